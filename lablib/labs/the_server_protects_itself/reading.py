"""Step 4, reading the breaker in a real mesh: what ``istioctl proxy-config cluster`` shows of the server
sidecar's inbound breaker, the breaker counters (which Istio's default stats matcher hides), and the response
flags of the clients' access logs.

On the embedded backend the lab's own commands give the same views under the same names
(``python -m lablib proxy-config cluster --pod …``, ``python -m lablib stats --pod …``); on a cluster,
``cluster_commands`` lists the real ones (istioctl, kubectl), which this lab cannot run for you.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lablib import _yamlio
from lablib.envoy.access_log import ResponseRecord
from lablib.i18n import t
from lablib.labs.the_server_protects_itself.mesh import SERVER_POD
from lablib.notebook.clients import INBOUND
from lablib.notebook.tables import HTML

__all__ = ["BREAKER_STATS", "BreakerView", "cluster_commands", "commands_view", "flag_counts",
           "inbound_thresholds", "inbound_view", "lab_commands"]

#: The server sidecar's breaker counters a student reads (``cluster.inbound|80||.<name>``).
BREAKER_STATS = ("upstream_rq_pending_overflow", "upstream_rq_active_overflow", "upstream_cx_overflow")


@dataclass(frozen=True)
class BreakerView:
    """What Step 4 reads: the inbound cluster's thresholds (as istioctl prints them), its breaker counters,
    whether the sidecar serves them at all, and the response flags of the clients' 503s."""

    thresholds: Mapping[str, Any]
    overflow_stats: Mapping[str, int]
    stats_visible: bool
    flags: Mapping[str, int] = field(default_factory=dict)

    @property
    def max_requests(self) -> int | None:
        value = self.thresholds.get("maxRequests")
        return int(value) if value is not None else None


def inbound_thresholds(cluster_yaml: str, name: str = INBOUND) -> dict[str, Any]:
    """``circuitBreakers.thresholds[0]`` of cluster ``name`` in ``istioctl proxy-config cluster -o yaml``
    output (the lab's ``proxy_config`` prints the same)."""
    for cluster in _yamlio.load(cluster_yaml) or ():
        if isinstance(cluster, dict) and cluster.get("name") == name:
            thresholds = (cluster.get("circuitBreakers") or {}).get("thresholds") or [{}]
            return dict(thresholds[0])
    return {}


def flag_counts(records: Iterable[ResponseRecord]) -> dict[str, int]:
    """The 503s by response flag as Istio's access log prints them: ``UO`` (this sidecar's breaker), ``UH``
    (no healthy upstream), ``URX``, ``UF``…; ``-`` (no flag) is a 503 that came from upstream."""
    counts: Counter[str] = Counter()
    for r in records:
        if r.code == 503:
            counts[",".join(sorted(r.flag_set)) or "-"] += 1
    return dict(counts)


def inbound_view(lab: Any, *, pod: str = SERVER_POD, clients: Iterable[str] = ("fortio",),
                 since: float | None = None) -> BreakerView:
    """The server pod's inbound breaker as its sidecar reports it, and the clients' 503 flags since
    ``since`` (epoch s; None: all of them)."""
    thresholds = inbound_thresholds(lab.proxy_config("cluster", pod=pod))
    stats = lab.stats(INBOUND, pod=pod)
    # Istio's default stats matcher leaves these out unless the pod asks for them (proxyStatsMatcher)
    visible = all(n in stats.values for n in BREAKER_STATS)
    records: list[ResponseRecord] = []
    backend = getattr(lab, "backend", lab)
    for client in clients:
        try:
            records += backend.responses(since, pod=client)
        except TypeError:  # a backend whose responses() reads the fortio pod only
            records += lab.responses(since)
    return BreakerView(thresholds, {n: int(stats.get(n, 0)) for n in BREAKER_STATS}, visible,
                       flag_counts(records))


def lab_commands(pod: str = SERVER_POD) -> list[str]:
    """The lab's own commands for the same views (embedded backend)."""
    return [
        f"python -m lablib proxy-config cluster --pod {pod}",
        f"python -m lablib stats 'inbound|80||' --pod {pod} --grep overflow",
        "python -m lablib stats --grep overflow",
    ]


def cluster_commands(namespace: str = "default") -> list[str]:
    """What a student types on a real cluster with Istio 1.30 (the lab cannot run them for you)."""
    server = f"$(kubectl get pod -n {namespace} -l app=service-go -o jsonpath='{{.items[0].metadata.name}}')"
    fqdn = f"service-go.{namespace}.svc.cluster.local"
    return [
        f"SERVER={server}",
        f"istioctl proxy-config cluster $SERVER.{namespace} --direction inbound --port 80 -o json",
        f"istioctl proxy-config cluster fortio.{namespace} --fqdn {fqdn} -o json",
        f"kubectl exec -n {namespace} $SERVER -c istio-proxy -- pilot-agent request GET stats "
        "| grep -E 'inbound\\|80\\|\\|.*(overflow|rq_active)'",
        f"kubectl exec -n {namespace} fortio -c istio-proxy -- pilot-agent request GET stats "
        "| grep -E 'outbound\\|80\\|\\|.*overflow'",
        f"kubectl logs -n {namespace} fortio -c istio-proxy | grep -E '\" 503 (UO|UH|URX|UF)'",
    ]


def commands_view(*, lang: str = "en") -> HTML:
    """Both command lists as the notebook shows them: a line in the student's language, then the commands
    verbatim in code font (they are typed as they are, in every edition)."""
    parts = ((t("lab06.reading.lab_commands", lang), lab_commands()),
             (t("lab06.reading.cluster_commands", lang), cluster_commands()))
    shown = "".join(f"<p>{html.escape(title)}</p><pre>{html.escape(chr(10).join(lines))}</pre>"
                    for title, lines in parts)
    return HTML(shown, "\n\n".join(title + "\n" + "\n".join(lines) for title, lines in parts))
