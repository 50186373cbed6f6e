"""The warning both backends give when an apply changes a running Pod's Envoy workers.

An apply updates a running Pod's ``proxy.istio.io/config`` annotation in place and restarts nothing, and
Istio's injector reads that annotation into the sidecar only when a Pod is created (claim
``istio.inject.at-pod-creation``): the sidecar keeps the workers it started with. The embedded mesh plans it
(``mesh._plan``: the pod is kept), the cluster backend sees it in the object the API server had
(``kind._plan.kept_workers``); both warn here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from lablib.i18n import Msg

__all__ = ["warn"]


def warn(pods: Iterable[str], manifests: Sequence[Any]) -> None:
    """A ``LabWarning`` at each named Pod's annotations in ``manifests``: it runs on with the workers its
    sidecar started with, and what to do instead."""
    from lablib.manifests import Problem
    from lablib.manifests import warn as warn_at

    for name in pods:
        m = next((m for m in manifests if m.kind == "Pod" and m.name == name), None)
        if m is not None:
            warn_at([Problem("warning", str(m.source.file), m.line_of("metadata.annotations"),
                             Msg("backends.pod.workers_kept"), Msg("backends.pod.workers_kept_fix", pod=name),
                             kind="Pod", name=name, path="metadata.annotations")])
