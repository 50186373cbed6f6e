"""Steps 2 and 3: the same breaker under HTTP/2 and gRPC.

Two more services, each one pod, each with a Service port whose name tells Istio the protocol: ``http2``
(``service-go-h2``, the HTTP app, which also speaks h2c) and ``grpc`` (``service-go-grpc``, the same
image with ``--grpc``: fortio's gRPC ping server). Istio then has the clients' outbound cluster and the pod's
inbound cluster talk HTTP/2 upstream (``lablib.translate.cluster.set_upstream_protocol``), so one
connection carries many requests at once. fortio runs ``load -h2`` (HTTP/2 to the client sidecar) and
``load -grpc -ping``.

Step 2 applies three rules to ``service-go-h2`` in turn and runs each one cold (the first run after the rule
changed: a new Envoy cluster, no connection yet) and then warm; Step 3 runs the gRPC service under
``http2MaxRequests``. A ``ProtocolRun`` keeps what the steps teach: the failed calls (503, or gRPC's ERROR
with their statuses), which counter rejected them, the most requests the app had at once, and the upstream
connections that carried them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lablib import _yamlio
from lablib.i18n import t
from lablib.lab_defaults import MANIFESTS
from lablib.manifests.builder import build_destination_rule, write_manifest
from lablib.notebook.clients import LimitPoint, measure
from lablib.notebook.runs import fortio_args

__all__ = ["GRPC_CLUSTER", "GRPC_POD", "GRPC_RULE", "GRPC_SERVER", "GRPC_URL", "H2_CLUSTER", "H2_POD",
           "H2_RULES", "H2_SERVER", "H2_URL", "MAX_CONNECTIONS", "MAX_PENDING", "MAX_REQUESTS", "REQUEST_CAP",
           "ProtocolRun", "every_run", "grpc_runs", "h2_runs", "protocol_rule", "remove", "upstream_view"]

#: ``service-go-h2``: the HTTP app behind a port named ``http2``; ``service-go-grpc``: ``--grpc`` on 8079.
H2_SERVER = MANIFESTS / "service/go/service-go-h2.yaml"
GRPC_SERVER = MANIFESTS / "service/go/service-go-grpc.yaml"
H2_HOST, GRPC_HOST = "service-go-h2", "service-go-grpc"
H2_POD, GRPC_POD = "service-go-h2-0", "service-go-grpc-0"
H2_URL = "http://service-go-h2/env"
#: fortio's gRPC destination as a URL (``http://host:port``): the mesh finds the client listener by its port.
GRPC_URL = "http://service-go-grpc:8079"
H2_CLUSTER = "outbound|80||service-go-h2.default.svc.cluster.local"
GRPC_CLUSTER = "outbound|8079||service-go-grpc.default.svc.cluster.local"

#: The requests one client sidecar lets through at once under Step 2's second rule and Step 3's.
REQUEST_CAP = 10
MAX_CONNECTIONS = "maxConnections: 1"
MAX_REQUESTS = f"http2MaxRequests: {REQUEST_CAP}"
MAX_PENDING = "maxConnections: 1, http1MaxPendingRequests: 1"
#: Step 2's rules for ``service-go-h2``, by the name its table shows (the rule's own fields).
H2_RULES: dict[str, dict[str, Any]] = {
    MAX_CONNECTIONS: {"tcp": {"maxConnections": 1}},
    MAX_REQUESTS: {"http": {"http2MaxRequests": REQUEST_CAP}},
    MAX_PENDING: {"tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1}},
}
#: Step 3's rule for ``service-go-grpc``: the cap that rejects HTTP/2, on one connection.
GRPC_RULE: dict[str, Any] = {"tcp": {"maxConnections": 1}, "http": {"http2MaxRequests": REQUEST_CAP}}

Progress = Callable[[int, int, str], None]


def protocol_rule(directory: Path, host: str, pool: Mapping[str, Any], *, lang: str = "en") -> Path:
    """The clients' DestinationRule for ``host`` with connection pool ``pool`` (no subsets), written and
    validated; the file name is the host's, so the next rule for it replaces this one."""
    directory.mkdir(parents=True, exist_ok=True)
    rule = build_destination_rule(name=host, host=host, subsets=(), connection_pool=dict(pool))
    return write_manifest(directory / f"destination-rule-{host}.yaml", rule,
                          comment=t("lab06.protocols.rule_comment", lang, service=host))


def remove(lab: Any, directory: Path, host: str) -> None:
    """Delete a step's service and its rule (the rule first: a rule whose host has no Service is a warning),
    so the later steps run against service-go alone again."""
    rule = directory / f"destination-rule-{host}.yaml"
    if rule.exists():
        lab.delete(rule)
    lab.delete({H2_HOST: H2_SERVER, GRPC_HOST: GRPC_SERVER}[host])


#: The fields of a cluster Steps 2 and 3 show: its breaker and the HTTP protocol it talks upstream.
_SHOWN = ("name", "circuitBreakers", "typedExtensionProtocolOptions")


def upstream_view(lab: Any, host: str) -> str:
    """What ``istioctl proxy-config cluster … -o yaml`` shows of the HTTP protocol each side talks upstream:
    the fortio pod's outbound cluster for ``host`` and the server pod's inbound one (the port's name decides:
    ``http2``/``grpc`` -> ``http2ProtocolOptions``)."""
    pod, cluster, port = ((H2_POD, H2_CLUSTER, 80) if host == H2_HOST else (GRPC_POD, GRPC_CLUSTER, 8079))
    fqdn = f"{host}.default.svc.cluster.local"
    views = ((f"istioctl proxy-config cluster fortio --fqdn {fqdn} -o yaml", cluster,
              lab.proxy_config("cluster")),
             (f"istioctl proxy-config cluster {pod} --direction inbound --port {port} -o yaml",
              f"inbound|{port}||", lab.proxy_config("cluster", pod=pod)))
    out = []
    for command, name, text in views:
        clusters = [c for c in _yamlio.load(text) or () if isinstance(c, dict) and c.get("name") == name]
        found = clusters[0] if clusters else {}
        keep = {k: found[k] for k in _SHOWN if k in found}
        out.append(f"$ {command}\n" + yaml.safe_dump(keep, sort_keys=False))
    return "\n".join(out)


@dataclass(frozen=True)
class ProtocolRun:
    """One fortio run from the fortio pod to ``pod``'s service under ``rule``.

    ``cold``: the first run after the rule changed (its Envoy cluster is new: no upstream connection yet).
    ``opened``/``open``: upstream connections this run opened, and open at its end (one per Envoy worker:
    each worker has its own connection pool).
    """

    rule: str
    cold: bool
    point: LimitPoint
    cluster: str
    pod: str
    opened: int
    open: int

    @property
    def calls(self) -> int:
        return self.point.calls

    @property
    def grpc(self) -> bool:
        return bool(getattr(self.point.result, "grpc", False))

    @property
    def failed(self) -> int:
        """Calls that failed: 503 for HTTP/2, fortio's ``ERROR`` for gRPC."""
        codes = self.point.result.codes
        return int(codes.get("ERROR", 0)) if self.grpc else int(codes.get(503, 0))

    @property
    def share(self) -> float:
        """Fraction (0..1) of the calls that failed."""
        return self.failed / self.calls if self.calls else 0.0

    def counter(self, name: str) -> int:
        """A counter of the client sidecar's cluster for this run (counters are reset before each run)."""
        return int(self.point.clusters.get(self.cluster, {}).get(name, 0))

    @property
    def active_overflow(self) -> int:
        return self.counter("upstream_rq_active_overflow")

    @property
    def pending_overflow(self) -> int:
        return self.counter("upstream_rq_pending_overflow")

    @property
    def app_peak(self) -> int | None:
        """The most requests the app (or, where the app's count is not known, the server sidecar) had at
        once; None when neither was measured (a cluster's gRPC pod)."""
        found = self.point.app_max.get(self.pod) or self.point.peak.get(self.pod)
        return int(found) if found else None

    @property
    def grpc_errors(self) -> dict[str, int]:
        """gRPC: the failed calls by status name (``UNAVAILABLE``: 14); empty for HTTP/2."""
        return dict(getattr(self.point.result, "grpc_errors", None) or {})


def _run(lab: Any, args: str, rule: str, *, cold: bool, cluster: str, pod: str) -> ProtocolRun:
    point = measure(lab, {"fortio": args}, label=rule).points["fortio"]
    stats = lab.stats(cluster)
    return ProtocolRun(rule, cold, point, cluster, pod, int(stats.get("upstream_cx_total", 0)),
                       int(stats.get("upstream_cx_active", 0)))


def _args(flags: str, concurrency: int, url: str, calls_per_thread: int) -> str:
    book = fortio_args(concurrency, calls_per_thread=calls_per_thread, url=url)
    return f"load {flags} " + book.removeprefix("load ")


def h2_runs(lab: Any, concurrency: int, *, directory: Path, calls_per_thread: int = 10, warm_runs: int = 1,
            rules: Mapping[str, Mapping[str, Any]] = H2_RULES, progress: Progress | None = None,
            lang: str = "en") -> dict[str, list[ProtocolRun]]:
    """Each rule of ``rules`` applied to ``service-go-h2`` (already applied), then ``fortio load -h2`` at
    ``concurrency``: one cold run and ``warm_runs`` warm ones. Rule -> its runs, cold first."""
    args = _args("-h2", concurrency, H2_URL, calls_per_thread)
    out: dict[str, list[ProtocolRun]] = {}
    total, done = len(rules) * (1 + warm_runs), 0
    for name, pool in rules.items():
        lab.apply(protocol_rule(directory, H2_HOST, pool, lang=lang))
        out[name] = []
        for i in range(1 + warm_runs):
            out[name].append(_run(lab, args, name, cold=i == 0, cluster=H2_CLUSTER, pod=H2_POD))
            done += 1
            if progress is not None:
                progress(done, total, t("lab06.protocols.progress", lang, rule=name, c=concurrency))
    return out


def grpc_runs(lab: Any, concurrency: int, *, directory: Path, calls_per_thread: int = 10, warm_runs: int = 1,
              lang: str = "en") -> list[ProtocolRun]:
    """``GRPC_RULE`` applied to ``service-go-grpc`` (already applied), then ``fortio load -grpc -ping`` at
    ``concurrency``: one cold run and ``warm_runs`` warm ones."""
    lab.apply(protocol_rule(directory, GRPC_HOST, GRPC_RULE, lang=lang))
    args = _args("-grpc -ping", concurrency, GRPC_URL, calls_per_thread)
    name = ", ".join(f"{k}: {v}" for block in GRPC_RULE.values() for k, v in block.items())
    return [_run(lab, args, name, cold=i == 0, cluster=GRPC_CLUSTER, pod=GRPC_POD)
            for i in range(1 + warm_runs)]


def every_run(runs: Mapping[str, Sequence[ProtocolRun]]) -> list[ProtocolRun]:
    """Step 2's runs in one list, rule by rule, cold first."""
    return [r for group in runs.values() for r in group]
