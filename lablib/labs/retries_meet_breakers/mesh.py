"""What lab 05 applies, each as the manifest a student would write (``kubectl apply -f``): service-go v1 alone
(the failing and slow instance), v2 beside it for Step 6, the route with its ``retries`` and ``timeout``, and
the rule with the retry breakers (``connectionPool.http.maxRetries``, ``trafficPolicy.retryBudget``).

The server pods carry a ``proxy.istio.io/config`` that keeps their sidecar's inbound cluster stats (Istio's
default stats matcher drops them): the amplification is read there, as requests that reached service-go.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lablib import _yamlio
from lablib._exceptions import LabWarning
from lablib._types import JSONDict
from lablib.i18n import t
from lablib.lab_defaults import HOST, MANIFESTS
from lablib.manifests.builder import NETWORKING_API_VERSION, build_destination_rule, write_manifest
from lablib.translate.proxy_config import PROXY_CONFIG_ANNOTATION

__all__ = ["BOOK_ROUTE", "RETRY_ON", "ROUTE_FILE", "RULE_FILE", "apply_rule", "heal", "make_flaky",
           "make_slow", "retry_route", "retry_rule", "service_pods", "use_route", "use_rule", "v1_only",
           "with_v2"]

#: The book's route (no ``retries``: Istio's default retry policy).
BOOK_ROUTE = MANIFESTS / "istio/route/virtual-service-go.yaml"
_SERVICE = MANIFESTS / "service/go/service-go.yaml"
#: The retry conditions the lab uses: every 5xx (the app's 503 included).
RETRY_ON = "5xx"
ROUTE_FILE = "virtual-service-go-retries.yaml"
RULE_FILE = "destination-rule-go-retries.yaml"
#: Keep the server sidecar's ``cluster.inbound`` stats (Istio's default proxyStatsMatcher drops them).
_STATS = yaml.safe_dump({"proxyStatsMatcher": {"inclusionPrefixes": ["cluster.inbound", "cluster.outbound"]}},
                        sort_keys=False)
#: The start of the validator's warning for a rule that drops its predecessor's connectionPool (English: what
#: ``warnings`` matches).
_REPLACES = ".*" + re.escape(t("manifests.checks.drops_breaker", "en", name=HOST, where="").split("(")[0])
V1_POD = "service-go-v1-0"
V2_POD = "service-go-v2-0"


def _book_docs() -> list[JSONDict]:
    return [d for d in _yamlio.load_all(_SERVICE.read_text()) if d]


def _with_stats(deployment: JSONDict) -> JSONDict:
    template = deployment["spec"]["template"]
    template.setdefault("metadata", {}).setdefault("annotations", {})[PROXY_CONFIG_ANNOTATION] = _STATS
    return deployment


def v1_only(directory: Path) -> Path:
    """The book's Service and its v1 Deployment only: one pod behind the service (v2 comes in Step 6)."""
    directory.mkdir(parents=True, exist_ok=True)
    docs = [d if d["kind"] == "Service" else _with_stats(d) for d in _book_docs()
            if d["kind"] == "Service" or d["metadata"]["name"] == "service-go-v1"]
    return write_manifest(directory / "service-go-v1.yaml", docs,
                          comment="lab 05: the book's service-go with v1 only (its inbound stats kept)")


def with_v2(directory: Path) -> Path:
    """The book's v2 Deployment, to apply beside v1: a second, healthy pod for the retries to go to."""
    directory.mkdir(parents=True, exist_ok=True)
    docs = [_with_stats(d) for d in _book_docs() if d["metadata"].get("name") == "service-go-v2"]
    return write_manifest(directory / "service-go-v2.yaml", docs,
                          comment="lab 05: the book's service-go v2 (its inbound stats kept)")


def service_pods(lab: Any) -> list[str]:
    """The service-go pods running now (their sidecars' inbound counters are the server side): the embedded
    and fake backends list their pods, the cluster backend finds the Deployments' pods."""
    pods = getattr(lab.backend, "pods", None)
    if pods is not None:
        return sorted(n for n, p in pods().items() if not getattr(p, "client", False))
    return [name for deployment in ("service-go-v1", "service-go-v2")
            for name in lab.backend.pod_names(deployment)]


def retry_route(directory: Path, *, attempts: int | None = None, retry_on: str | None = RETRY_ON,
                per_try_timeout: str | None = None, timeout: str | None = None,
                ignore_previous_hosts: bool | None = None) -> Path:
    """The book's route with ``retries`` (``attempts`` None: no ``retries`` block, Istio's default policy;
    0: retries off) and ``timeout``, written to ``directory``."""
    http: JSONDict = {"route": [{"destination": {"host": HOST}}]}
    if timeout is not None:
        http["timeout"] = timeout
    if attempts is not None:
        retries: JSONDict = {"attempts": int(attempts)}
        if attempts > 0:
            if retry_on:
                retries["retryOn"] = retry_on
            if per_try_timeout is not None:
                retries["perTryTimeout"] = per_try_timeout
            if ignore_previous_hosts is not None:
                retries["retryIgnorePreviousHosts"] = ignore_previous_hosts
        http["retries"] = retries
    vs = {"apiVersion": NETWORKING_API_VERSION, "kind": "VirtualService", "metadata": {"name": HOST},
          "spec": {"hosts": [HOST], "http": [http]}}
    directory.mkdir(parents=True, exist_ok=True)
    return write_manifest(directory / ROUTE_FILE, vs, comment="lab 05: the book's route with retries")


def retry_rule(directory: Path, *, max_retries: int | None = None, budget: Mapping[str, Any] | None = None,
               pool: Mapping[str, Any] | None = None, balancer: str | None = None) -> Path:
    """The rule for service-go: ``connectionPool`` (``pool``, plus ``http.maxRetries``), ``retryBudget``
    (``{}``: Istio's defaults) and ``loadBalancer.simple``; nothing set: Istio's defaults everywhere."""
    connection_pool: dict[str, Any] = {k: dict(v) for k, v in (pool or {}).items()}
    if max_retries is not None:
        connection_pool.setdefault("http", {})["maxRetries"] = int(max_retries)
    base = build_destination_rule(subsets=())
    policy: JSONDict = {}
    if balancer is not None:
        policy["loadBalancer"] = {"simple": balancer}
    if budget is not None:
        policy["retryBudget"] = dict(budget)
    if policy:
        base["spec"]["trafficPolicy"] = policy
    rule = build_destination_rule(base=base, connection_pool=connection_pool or None)
    directory.mkdir(parents=True, exist_ok=True)
    return write_manifest(directory / RULE_FILE, rule, comment="lab 05: the retry breakers of service-go")


def use_route(lab: Any, directory: Path, **route: Any) -> Path:
    """Write and apply :func:`retry_route` (it replaces the route applied before: same name)."""
    path = retry_route(directory, **route)
    lab.apply(path)
    return path


def apply_rule(lab: Any, path: Path) -> None:
    """Apply a rule this lab wrote. Each replaces the one before on purpose, so the validator's warning that a
    replaced rule's connectionPool goes away is not shown; any other warning is."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_REPLACES, category=LabWarning)
        lab.apply(path)


def use_rule(lab: Any, directory: Path, **rule: Any) -> Path:
    """Write and apply :func:`retry_rule` (it replaces the rule applied before: same name)."""
    path = retry_rule(directory, **rule)
    apply_rule(lab, path)
    return path


def make_flaky(lab: Any, fraction: float, *, seed: int = 1, pod: str = "service-go-v1") -> None:
    """``pod`` answers 503 to each call with probability ``fraction`` (drawn at random, reproducibly)."""
    lab.set_fault(pod, code=503, fraction=fraction, seed=seed)


def make_slow(lab: Any, delay_ms: float, *, pod: str = "service-go-v1") -> None:
    """``pod`` answers every call, ``delay_ms`` later than its service time."""
    lab.set_fault(pod, code=503, fraction=0.0, delay_ms=delay_ms)


def heal(lab: Any, pod: str = "service-go-v1") -> None:
    """``pod`` answers every call at once again."""
    lab.set_fault(pod, code=503, fraction=0.0, delay_ms=0.0)
