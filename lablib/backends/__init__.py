"""Backends: where the lab's manifests run. ``mesh`` (embedded, real Envoy processes) and ``kind`` (a real cluster)."""

from lablib.backends.base import Backend, ClusterStats, HostStatus

__all__ = ["Backend", "ClusterStats", "HostStatus"]
