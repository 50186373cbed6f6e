"""The ``Sidecar`` resource's inbound connection pool -> a server sidecar's ``inbound|<port>||`` cluster.

Istio >= 1.21 (``inboundConnectionPool`` and ``ingress[].connectionPool``, istio/istio#32130, #41235): the
pool a server sidecar applies to its own inbound cluster, independent of the clients' DestinationRule.
Istio 1.30's rules, which this module reproduces:

* Which Sidecar applies to a pod (``PushContext``'s sidecar scope): one whose ``workloadSelector.labels``
  select the pod wins over the namespace's selector-less one. Two of the same kind for one pod are
  "undefined" in Istio's docs; the lab uses the first one applied (the validator warns).
* ``SidecarScope.InboundConnectionPoolForPort(port)`` (``pilot/pkg/model/sidecar.go``): the
  ``ingress[]`` entry whose ``port.number`` is the cluster's port and that has a ``connectionPool``, else
  ``inboundConnectionPool``, else none. Istio's own test (``TestInboundConnectionPoolForPort``) expects
  exactly this: top-level settings for every port asked about, a port's own settings overriding them.
* ``buildInboundCluster`` (``pilot/pkg/networking/core/cluster_builder.go``): the DestinationRule's
  (port-level) traffic policy is taken first; a Sidecar pool then **replaces** its ``connectionPool`` as a
  whole (no field-by-field merge): a Sidecar that sets only ``tcp`` leaves ``http`` at Istio's defaults
  even if the DR set it.

The port is the cluster's: the workload port (a Service's numeric targetPort, else its port), which is what
``ingress[].port.number`` names. The validator refuses Sidecars the lab cannot run (egress, a port the pods
do not serve, an ingress list that leaves a served port to Istio's passthrough cluster).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lablib.translate.model import Endpoint, Object, labels_match

__all__ = ["inbound_connection_pool", "inbound_policy", "sidecar_for"]

Policy = Mapping[str, Any]


def _selector(sidecar: Object) -> Mapping[str, Any] | None:
    selector = sidecar.spec.get("workloadSelector")
    labels = selector.get("labels") if isinstance(selector, Mapping) else None
    return labels if isinstance(labels, Mapping) and labels else None


def sidecar_for(endpoint: Endpoint, sidecars: Iterable[Object]) -> Object | None:
    """The Sidecar that configures ``endpoint``'s proxy: a selecting one first, else the namespace's."""
    mine = [s for s in sidecars if s.namespace == endpoint.namespace]
    selecting = [s for s in mine if (sel := _selector(s)) is not None and labels_match(sel, endpoint.labels)]
    if selecting:
        return selecting[0]
    # A workloadSelector with no labels applies to the whole namespace (Istio warns, and treats it so).
    return next((s for s in mine if _selector(s) is None), None)


def inbound_connection_pool(sidecar: Object | None, port: int) -> Policy | None:
    """``SidecarScope.InboundConnectionPoolForPort``: the port's own pool, else the Sidecar's, else None."""
    if sidecar is None:
        return None
    for listener in sidecar.spec.get("ingress") or ():
        number = (listener.get("port") or {}).get("number") if isinstance(listener, Mapping) else None
        if number == port and listener.get("connectionPool") is not None:
            return listener["connectionPool"]  # type: ignore[no-any-return]
    pool = sidecar.spec.get("inboundConnectionPool")
    return pool if isinstance(pool, Mapping) else None


def inbound_policy(policy: Policy | None, sidecar: Object | None, port: int) -> Policy | None:
    """The traffic policy of the inbound cluster for ``port``: the DR's, its ``connectionPool`` replaced by
    the Sidecar's when the Sidecar has one for this port (Istio: ``opts.policy.ConnectionPool = …``)."""
    pool = inbound_connection_pool(sidecar, port)
    if pool is None:
        return policy
    return {**(policy or {}), "connectionPool": pool}  # a shallow copy: the DR itself is left as it is
