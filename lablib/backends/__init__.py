"""Backends: where the lab's manifests run.

``mesh``: the embedded backend, real Envoy processes; ``kind``: a real cluster with Istio.
"""

from lablib.backends.base import Backend, ClusterStats, HostStatus

__all__ = ["Backend", "ClusterStats", "HostStatus"]
