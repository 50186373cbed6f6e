"""Lab 05's measured steps: each applies the route and rule it needs, sets service-go's faults and runs.

    baseline(lab, work, …)                Step 1: the book's route (Istio's default retry policy)
    attempts_sweep(lab, work, [0,1,2,5])  Step 2: retries {attempts: N, retryOn: 5xx}
    breaker_sweep(lab, work, [1, 20])     Step 3: the same at several -c, with and without maxRetries
    budget_sweep(lab, work, [5, 40])      Step 4: maxRetries against a retryBudget, at several -c
    timeouts(lab, work, delay_ms)         Step 5: perTryTimeout and timeout against a slow v1; the queue
    never_retried(lab, work)              Step 6: the client's own overflow; a server sidecar's overflow

Each returns ``RetryRun``s (``lablib.labs.retries_meet_breakers.experiment``); ``route_policy`` reads back the
retry policy and timeout a client sidecar runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lablib import _yamlio
from lablib._exceptions import ParameterError
from lablib.i18n import Msg, t
from lablib.labs.retries_meet_breakers.experiment import RetryRun, measure, measure_many
from lablib.labs.retries_meet_breakers.mesh import (
    BOOK_ROUTE,
    RETRY_ON,
    heal,
    make_flaky,
    make_slow,
    use_route,
    use_rule,
    with_v2,
)
from lablib.notebook.clients import start_clients

__all__ = ["SECOND_CLIENT_RULE", "attempts_sweep", "baseline", "breaker_sweep", "budget_sweep",
           "never_retried", "pod_addresses", "route_policy", "timeouts"]

Progress = Callable[[int, int, str], None]
#: Step 6's rule: at most 4 requests per client sidecar and per server sidecar; RANDOM so that the slow v1
#: keeps getting half of the first tries (Istio's LEAST_REQUEST would steer around it).
SECOND_CLIENT_RULE: dict[str, Any] = {"pool": {"http": {"http2MaxRequests": 4}}, "balancer": "RANDOM"}


def _step(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)


def _check_list(values: Sequence[int], name: str, low: int) -> list[int]:
    values = [int(v) for v in values]
    if not values or any(v < low for v in values):
        raise ParameterError(Msg("retries.err.values", name=name, values=[str(v) for v in values], low=low))
    return values


def route_policy(lab: Any, *, pod: str | None = None) -> dict[str, Any]:
    """The client sidecar's live route to service-go: its ``timeout`` and ``retry_policy`` as Envoy runs them
    (from ``proxy_config("route")``), keys in Envoy's snake_case."""
    text = lab.proxy_config("route", pod=pod) if pod is not None else lab.proxy_config("route")
    for config in _yamlio.load(text) or ():
        for host in config.get("virtual_hosts") or config.get("virtualHosts") or ():
            if not str(host.get("name", "")).startswith("service-go."):
                continue
            for route in host.get("routes") or ():
                action = route.get("route") or {}
                policy = action.get("retry_policy") or action.get("retryPolicy")
                return {"timeout": action.get("timeout"), "retry_policy": _snake(policy)}
    return {}


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {"".join(f"_{c.lower()}" if c.isupper() else c for c in k): _snake(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def baseline(lab: Any, work: Path, *, fraction: float, concurrency: int, calls: int, seed: int = 1
             ) -> RetryRun:
    """Step 1: v1 answers 503 to ``fraction`` of its calls; the book's route (no ``retries``: Istio's
    default policy) and no rule."""
    lab.apply(BOOK_ROUTE)
    use_rule(lab, work)
    make_flaky(lab, fraction, seed=seed)
    return measure(lab, "book", concurrency, calls=calls, settings={"attempts": 0, "fraction": fraction})


def attempts_sweep(lab: Any, work: Path, attempts: Sequence[int], *, fraction: float, concurrency: int,
                   calls: int, seed: int = 1, progress: Progress | None = None, lang: str = "en"
                   ) -> list[RetryRun]:
    """Step 2: for each N, ``retries: {attempts: N, retryOn: 5xx}`` (N = 0: retries off), no rule."""
    attempts = _check_list(attempts, "attempts", 0)
    use_rule(lab, work)
    make_flaky(lab, fraction, seed=seed)
    runs = []
    for i, n in enumerate(attempts):
        _step(progress, i, len(attempts), t("retries.progress.attempts", lang, n=n))
        use_route(lab, work, attempts=n)
        runs.append(measure(lab, f"N={n}", concurrency, calls=calls,
                            settings={"attempts": n, "retry_on": RETRY_ON, "fraction": fraction}))
    _step(progress, len(attempts), len(attempts), t("retries.progress.done", lang))
    return runs


def breaker_sweep(lab: Any, work: Path, concurrencies: Sequence[int], *, max_retries: int, attempts: int,
                  fraction: float, calls_per_thread: int, seed: int = 1, progress: Progress | None = None,
                  lang: str = "en") -> dict[str, list[RetryRun]]:
    """Step 3: at each ``-c``, the same retries with no rule and with ``maxRetries: max_retries``."""
    concurrencies = _check_list(concurrencies, "retry_concurrency", 1)
    make_flaky(lab, fraction, seed=seed)
    use_route(lab, work, attempts=attempts)
    rules: dict[str, dict[str, Any]] = {
        t("retries.label.no_rule", lang): {},
        t("retries.label.max_retries", lang, n=max_retries): {"max_retries": max_retries},
    }
    return _sweep(lab, work, rules, concurrencies, attempts=attempts, fraction=fraction,
                  calls_per_thread=calls_per_thread, progress=progress, lang=lang)


def budget_sweep(lab: Any, work: Path, concurrencies: Sequence[int], *, percent: float, max_retries: int,
                 attempts: int, fraction: float, calls_per_thread: int, seed: int = 1,
                 progress: Progress | None = None, lang: str = "en") -> dict[str, list[RetryRun]]:
    """Step 4: at each ``-c``: no rule, ``maxRetries``, and ``retryBudget: {percent}`` (Istio's default
    ``minRetryConcurrency``, 3)."""
    concurrencies = _check_list(concurrencies, "budget_concurrency", 1)
    make_flaky(lab, fraction, seed=seed)
    use_route(lab, work, attempts=attempts)
    rules: dict[str, dict[str, Any]] = {
        t("retries.label.no_rule", lang): {},
        t("retries.label.max_retries", lang, n=max_retries): {"max_retries": max_retries},
        t("retries.label.budget", lang, percent=percent): {"budget": {"percent": percent}},
    }
    return _sweep(lab, work, rules, concurrencies, attempts=attempts, fraction=fraction,
                  calls_per_thread=calls_per_thread, progress=progress, lang=lang)


def _sweep(lab: Any, work: Path, rules: dict[str, dict[str, Any]], concurrencies: list[int], *, attempts: int,
           fraction: float, calls_per_thread: int, progress: Progress | None, lang: str
           ) -> dict[str, list[RetryRun]]:
    out: dict[str, list[RetryRun]] = {}
    total, done = len(rules) * len(concurrencies), 0
    for label, rule in rules.items():
        use_rule(lab, work, **rule)
        out[label] = []
        for c in concurrencies:
            _step(progress, done, total, t("retries.progress.rule", lang, label=label, c=c))
            settings = {"attempts": attempts, "retry_on": RETRY_ON, "fraction": fraction,
                        "max_retries": rule.get("max_retries"),
                        "budget_percent": (rule.get("budget") or {}).get("percent")}
            out[label].append(measure(lab, label, c, calls=max(c, calls_per_thread * c), settings=settings))
            done += 1
    _step(progress, total, total, t("retries.progress.done", lang))
    return out


def timeouts(lab: Any, work: Path, *, delay_ms: float, concurrency: int = 5, calls: int = 10,
             queue_concurrency: int = 10, queue_calls: int = 100, progress: Progress | None = None,
             lang: str = "en") -> dict[str, RetryRun]:
    """Step 5: v1 answers ``delay_ms`` late. ``per-try``: tries cut at a third of the delay, 2 retries, a long
    timeout. ``too-long``: three tries of two thirds of the delay under a timeout of 5/3 of it: the route's
    timeout ends the call first. ``queue``: v1 fast again, one connection (``maxConnections: 1``) and a
    100 ms timeout: calls spend it waiting in the pending queue."""
    if delay_ms < 30:
        raise ParameterError(Msg("retries.err.delay", delay_ms=delay_ms))
    third = max(10, round(delay_ms / 3))
    cases: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "per-try": ({"attempts": 2, "per_try_timeout": f"{third}ms", "timeout": f"{4 * round(delay_ms)}ms"},
                    {}),
        "too-long": ({"attempts": 3, "per_try_timeout": f"{2 * third}ms", "timeout": f"{5 * third}ms"}, {}),
        "queue": ({"attempts": 0, "timeout": "100ms"}, {"pool": {"tcp": {"maxConnections": 1}}}),
    }
    out: dict[str, RetryRun] = {}
    for i, (name, (route, rule)) in enumerate(cases.items()):
        _step(progress, i, len(cases), t("retries.progress.timeouts", lang, case=name))
        if name == "queue":
            heal(lab)
        else:
            make_slow(lab, delay_ms)
        use_rule(lab, work, **rule)
        use_route(lab, work, **route)
        c, n = (queue_concurrency, queue_calls) if name == "queue" else (concurrency, calls)
        settings = {**route, "delay_ms": 0 if name == "queue" else delay_ms,
                    "max_connections": 1 if name == "queue" else None}
        out[name] = measure(lab, name, c, calls=n, settings=settings, responses=True)
    heal(lab)
    _step(progress, len(cases), len(cases), t("retries.progress.done", lang))
    return out


def never_retried(lab: Any, work: Path, *, delay_ms: float = 100, clients_concurrency: int = 4,
                  clients_calls: int = 200, progress: Progress | None = None, lang: str = "en"
                  ) -> dict[str, RetryRun]:
    """Step 6. ``client-overflow``: ``http2MaxRequests: 1`` and 5 retries on every 5xx: the client sidecar's
    own 503 UO. Then v2 and a second client pod join; v1 answers ``delay_ms`` late, each client runs
    ``clients_concurrency`` threads against 4 requests per sidecar: v1's server sidecar overflows.
    ``server-default``: the book's route (Istio's default retry policy); ``server-5xx``: 2 retries on 5xx."""
    heal(lab)
    out: dict[str, RetryRun] = {}
    _step(progress, 0, 3, t("retries.progress.never", lang, case="client-overflow"))
    use_rule(lab, work, pool={"http": {"http2MaxRequests": 1}})
    use_route(lab, work, attempts=5)
    out["client-overflow"] = measure(lab, "client-overflow", 10, calls=100, responses=True,
                                     settings={"attempts": 5, "retry_on": RETRY_ON, "max_requests": 1})
    lab.apply(with_v2(work))
    start_clients(lab, 2, directory=work)
    use_rule(lab, work, **SECOND_CLIENT_RULE)
    make_slow(lab, delay_ms)
    runs = {"fortio": (clients_concurrency, clients_calls), "fortio-2": (clients_concurrency, clients_calls)}
    for i, (name, route) in enumerate((("server-default", None), ("server-5xx", {"attempts": 2}))):
        _step(progress, i + 1, 3, t("retries.progress.never", lang, case=name))
        if route is None:
            lab.apply(BOOK_ROUTE)
        else:
            use_route(lab, work, **route)
        out[name] = measure_many(lab, name, runs, responses=True,
                                 settings={"attempts": (route or {}).get("attempts", 0), "delay_ms": delay_ms,
                                           "retry_on": RETRY_ON if route else None})
    heal(lab)
    _step(progress, 3, 3, t("retries.progress.done", lang))
    return out


def pod_addresses(lab: Any) -> dict[str, str]:
    """Where the client sidecars reach each service pod (the access log's upstream host) -> the pod's name;
    empty when the backend does not say (the cluster backend)."""
    pods = getattr(lab.backend, "pods", None)
    if pods is None:
        return {}
    return {f"127.0.0.1:{p.port}": name for name, p in pods().items()
            if not getattr(p, "client", False) and getattr(p, "port", 0)}
