"""Lab 06's runs: 1, 2 and 3 client pods at once against one server pod, under three server limits.

Every run is the kit's multi-client measurement (``lablib.notebook.clients.measure``: counters reset, every
client's fortio at once, the server sidecar's in-flight gauge sampled). A ``ServerRun`` keeps what the step
teaches: how many requests the clients' sidecars let through at once (their in-flight peaks, summed), how
many the server sidecar held at once, its own overflows, and the 503s that reached the clients from upstream
(a 503 the client's own breaker did not make).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lablib.i18n import t
from lablib.labs.the_server_protects_itself.mesh import OUTLIER, client_rule, server_sidecar
from lablib.notebook.clients import ClientsRun, measure, start_clients
from lablib.notebook.runs import SERVICE_CLUSTER, fortio_args

__all__ = ["DR_ONLY", "OutlierRun", "ServerRun", "apply_server_limit", "outlier_run", "run_servers",
           "server_sweep"]

#: The setting where no Sidecar applies: the server sidecar gets the clients' DestinationRule pool (lab 03).
DR_ONLY = "dr"


@dataclass(frozen=True)
class ServerRun:
    """``clients`` client pods at once under one server setting (``limit``: the Sidecar's http2MaxRequests,
    or ``DR_ONLY``)."""

    clients: int
    limit: int | str
    run: ClientsRun

    @property
    def server_peak(self) -> int:
        """The most requests the server sidecar had in its app at once (``upstream_rq_active``), sampled: what
        its ``http2MaxRequests`` bounds. Requests waiting at it for a connection to the app are not counted
        against that limit (``http1MaxPendingRequests`` bounds them), so they are left out here."""
        return max(self.run.server_active_peak.values(), default=0)

    @property
    def admitted(self) -> int:
        """The requests the clients' sidecars had in flight at once, each at its own peak, summed."""
        return sum(p.in_flight_peak for p in self.run.points.values())

    @property
    def server_overflows(self) -> int:
        """503s the server sidecar's own breaker made (its ``inbound|80||`` overflow counters)."""
        return self.run.server_overflows

    @property
    def client_overflows(self) -> int:
        """503s the client sidecars' own breakers made (pending + active overflow, every client)."""
        return sum(p.explained_503 for p in self.run.points.values())

    @property
    def upstream_503(self) -> int:
        """503s the clients got from upstream: every 503 less those their own breakers made."""
        total = sum(p.result.codes.get(503, 0) for p in self.run.points.values())
        return max(0, total - self.client_overflows)

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.run.points.values())


def apply_server_limit(lab: Any, limit: int | str, *, directory: Path) -> Path | None:
    """Give the server its own limit (a Sidecar), or none of its own (``DR_ONLY``: delete the Sidecar, so the
    server sidecar gets the clients' DestinationRule pool again). Returns the Sidecar file applied, if any."""
    if limit == DR_ONLY:
        for old in sorted(directory.glob("sidecar-service-go-*.yaml")):
            lab.delete(old)
            old.unlink()
        return None
    for old in sorted(directory.glob("sidecar-service-go-*.yaml")):
        old.unlink()  # one Sidecar named SIDECAR_NAME: applying the new file replaces it
    path = server_sidecar(directory, int(limit))  # named SIDECAR_NAME: it replaces the one applied before
    lab.apply(path)
    return path


def run_servers(lab: Any, pods: Sequence[str], concurrency: int, *, limit: int | str,
                calls_per_thread: int = 10) -> ServerRun:
    """Every client pod of ``pods`` at ``concurrency`` threads at once, under the setting already applied."""
    args = fortio_args(concurrency, calls_per_thread=calls_per_thread)
    return ServerRun(len(pods), limit, measure(lab, dict.fromkeys(pods, args), label=f"{limit}"))


Progress = Callable[[int, int, str], None]


def server_sweep(lab: Any, counts: Sequence[int], limits: Sequence[int | str], concurrency: int, *,
                 directory: Path, calls_per_thread: int = 10, progress: Progress | None = None,
                 lang: str = "en") -> dict[int | str, dict[int, ServerRun]]:
    """For each server setting in ``limits``, a run with each count of client pods; setting -> count -> run.
    The client pods (``fortio``, ``fortio-2``, …) are started first, so every run meets running sidecars."""
    pods = start_clients(lab, max(counts), directory=directory)
    out: dict[int | str, dict[int, ServerRun]] = {}
    total, done = len(counts) * len(limits), 0
    for limit in limits:
        apply_server_limit(lab, limit, directory=directory)
        out[limit] = {}
        for n in counts:
            out[limit][n] = run_servers(lab, pods[:n], concurrency, limit=limit,
                                        calls_per_thread=calls_per_thread)
            done += 1
            if progress is not None:
                progress(done, total, t("lab06.sweep.run", lang, limit=limit, n=n, c=concurrency))
    return out



@dataclass(frozen=True)
class OutlierRun:
    """The clients under a rule with outlier detection, against a server with its own limit: the run and, per
    client pod, its ejections of the server pod and its 503s "no healthy upstream"."""

    run: ServerRun
    ejections: dict[str, int]
    none_healthy: dict[str, int]


def outlier_run(lab: Any, pods: Sequence[str], concurrency: int, *, limit: int, directory: Path,
                calls_per_thread: int = 10) -> OutlierRun:
    """Every client at once with ``OUTLIER`` in their rule: the server's overflows are 5xx to them. The rule
    without outlier detection is applied again afterwards (a changed rule is a new Envoy cluster: the
    ejection does not outlive the step)."""
    lab.apply(client_rule(directory, outlier=OUTLIER))
    try:
        run = run_servers(lab, pods, concurrency, limit=limit, calls_per_thread=calls_per_thread)
        after = {pod: lab.stats(SERVICE_CLUSTER, pod=pod) for pod in pods}  # counters were reset by the run
    finally:
        lab.apply(client_rule(directory))
    ejected = "outlier_detection.ejections_enforced_total"
    return OutlierRun(run, {p: int(s.get(ejected, 0)) for p, s in after.items()},
                      {p: int(s.get("upstream_cx_none_healthy", 0)) for p, s in after.items()})
