"""Lab 06's predictions.

Step 1: with three client pods, each allowed 10 in flight, how many requests will the server sidecar hold at
once when it has a limit of its own? Theory: ``min(server limit, clients × 10)``; the measurement: the sampled
peak of the server sidecar's in-flight gauge. Step 2: under ``maxConnections: 1`` and HTTP/2, what share of
the calls get 503? Theory 0 (one connection multiplexes them). Step 3: which gRPC status does a client get
when the breaker overflows? Theory UNAVAILABLE (Envoy maps its 503 to 14)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from lablib.i18n import t
from lablib.labs.the_server_protects_itself.experiment import ServerRun
from lablib.labs.the_server_protects_itself.mesh import CLIENT_LIMIT
from lablib.labs.the_server_protects_itself.protocols import MAX_CONNECTIONS, ProtocolRun
from lablib.notebook.predict import Misconception, Question, Verdict, compare

__all__ = ["GRPC_STATUSES", "PREDICTIONS", "grpc_verdict", "h2_verdict", "theory_peak", "verdicts"]

#: The answers Step 3 offers: gRPC status names as grpc and fortio print them, and the HTTP code.
GRPC_STATUSES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL", "503")

PREDICTIONS: dict[str, Question] = {
    "server_peak": Question(
        "server_peak", lambda lang, **v: t("predict.lab06.server_peak.question", lang, **v),
        low=0, high=1000, tolerance=3,
        misconceptions=(Misconception(
            "clients_add_up", lambda lang, **v: t("predict.lab06.server_peak.add_up", lang, **v),
            lambda p, theory, m: isinstance(p, (int, float)) and theory is not None and p > theory + 3),)),
    "h2_share": Question(
        "h2_share", lambda lang, **v: t("predict.lab06.h2_share.question", lang, **v), unit="%",
        low=0, high=100, tolerance=5,
        misconceptions=(Misconception(
            "one_at_a_time", lambda lang, **v: t("predict.lab06.h2_share.one_at_a_time", lang, **v),
            lambda p, theory, m: float(p) >= 25),)),
    "grpc_status": Question(
        "grpc_status", lambda lang, **v: t("predict.lab06.grpc_status.question", lang, **v),
        choices=GRPC_STATUSES,
        misconceptions=(
            Misconception("http_code", lambda lang, **v: t("predict.lab06.grpc_status.http_code", lang, **v),
                          lambda p, theory, m: p == "503"),
            Misconception("resource_exhausted",
                          lambda lang, **v: t("predict.lab06.grpc_status.resource_exhausted", lang, **v),
                          lambda p, theory, m: p == "RESOURCE_EXHAUSTED"),
        )),
}


def theory_peak(clients: int, server_limit: int) -> int:
    """What the server may hold at once: what the clients admit, capped by its own limit."""
    return min(server_limit, clients * CLIENT_LIMIT)


def verdicts(guesses: Mapping[str, Any], runs: Mapping[int, ServerRun], server_limit: int, *,
             lang: str = "en") -> list[Verdict]:
    """The prediction next to the theory and Step 1's run with the most clients."""
    most = max(runs)
    return [compare(guesses["server_peak"], theory_peak(most, server_limit), runs[most].server_peak,
                    lang=lang)]


def h2_verdict(guess: Any, runs: Mapping[str, Sequence[ProtocolRun]], *, lang: str = "en") -> Verdict:
    """Step 2's prediction next to the theory (0%: nothing rejected) and the measured 503 share under
    ``maxConnections: 1`` (every run of that rule together)."""
    mine = runs[MAX_CONNECTIONS]
    calls = sum(r.calls for r in mine)
    measured = round(100 * sum(r.failed for r in mine) / calls) if calls else None
    return compare(guess, 0, measured, lang=lang)


def grpc_verdict(guess: Any, runs: Sequence[ProtocolRun], *, lang: str = "en") -> Verdict:
    """Step 3's prediction next to the theory (UNAVAILABLE) and the status most failed calls got."""
    statuses: Counter[str] = Counter()
    for r in runs:
        statuses.update(r.grpc_errors)
    return compare(guess, "UNAVAILABLE", statuses.most_common(1)[0][0] if statuses else None, lang=lang)
