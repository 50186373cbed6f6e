"""``Lab()``: what notebooks use. It picks a backend and forwards to it.

>>> lab = Lab()                       # kind when usable, else the embedded mesh  # doctest: +SKIP
>>> lab.apply("manifests/service/go/service-go.yaml")                            # doctest: +SKIP
>>> lab.apply("manifests/istio/resilience/destination-rule-go-cb.yaml")          # doctest: +SKIP
>>> result = lab.fortio("load -c 30 -qps 0 -n 300 http://service-go/env")       # doctest: +SKIP
>>> lab.stats("outbound|80||service-go.default.svc.cluster.local").overflows     # doctest: +SKIP
>>> lab.explain()                     # every non-200 of that run, by cause     # doctest: +SKIP
>>> lab.cleanup()                                                                # doctest: +SKIP

Backend choice: ``Lab(backend="embedded")`` / ``"kind"`` / ``"auto"``; when not given, ``$LABLIB_BACKEND``
(default ``auto``: kind when ``lablib.backends.kind.detect()`` says it is usable, else the embedded mesh).
A ``Backend`` object is used as it is: ``Lab(backend=FakeBackend())`` (``lablib.backends.fake``) computes
results without starting Envoy.
The embedded lab's lifetime (attach to a running one, owned vs persistent) is described in
``lablib.backends.mesh``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lablib._exceptions import BackendUnavailable, LabError, ParameterError
from lablib._types import PathLike
from lablib.backends.base import Backend, ClusterStats, HostStatus, ProgressCallback
from lablib.i18n import Msg
from lablib.lab_defaults import SERVICE_TIME_MS, WORKERS

if TYPE_CHECKING:
    from lablib.envoy.access_log import ResponseRecord
    from lablib.envoy.explain import RunExplanation
    from lablib.fortio.result import FortioResult

__all__ = ["BACKEND_ENV", "Lab", "choose_backend"]

#: Environment variable naming the backend: ``embedded``, ``kind`` or ``auto``.
BACKEND_ENV = "LABLIB_BACKEND"
_ALIASES = {"embedded": "embedded", "mesh": "embedded", "envoy": "embedded", "kind": "kind",
            "cluster": "kind",
            "auto": "auto", "": "auto"}


def choose_backend(requested: str | None = None) -> tuple[str, str]:
    """Which backend to use and why: ``("embedded" | "kind", reason)``."""
    raw = (requested if requested is not None else os.environ.get(BACKEND_ENV, "auto")).strip().lower()
    if raw not in _ALIASES:
        where = "Lab(backend=…)" if requested else "$" + BACKEND_ENV
        raise LabError(Msg("labapi.unknown_backend", raw=raw, where=where))
    choice = _ALIASES[raw]
    if choice != "auto":
        return choice, f"asked for {choice}"
    try:
        from lablib.backends.kind import detect
    except ImportError as exc:
        return "embedded", f"kind backend unavailable ({exc})"
    found = detect()
    if found.usable:
        return "kind", found.reason or "docker, kind and istioctl found"
    return "embedded", f"kind not usable: {found.reason}"


class Lab:
    """The lab: apply manifests, run fortio from the fortio pod, read the client sidecar's Envoy.

    Args:
        backend: ``"embedded"``, ``"kind"`` or ``"auto"`` (default: ``$LABLIB_BACKEND``, else auto), or a
            ``Backend`` object to use as it is (e.g. ``lablib.backends.fake.FakeBackend()``).
        name: the lab's name (embedded: the state dir; kind: the cluster name). Default per backend.
        workers: Envoy worker threads per sidecar (embedded; Istio's default is 2).
        service_time_ms: service-go's time per call (embedded).
        persist: keep the embedded lab running after this process exits (until ``cleanup``).
        attach_only: only attach to a running embedded lab (raise ``LabNotRunning`` if none).
        progress: called with (done, total, message) during slow steps.
        **options: passed to the backend's constructor as they are.
    """

    def __init__(self, backend: str | Backend | None = None, *, name: str | None = None,
                 workers: int = WORKERS, service_time_ms: float = SERVICE_TIME_MS, persist: bool = False,
                 attach_only: bool = False, progress: ProgressCallback | None = None, **options: Any) -> None:
        self.backend: Backend
        if backend is not None and not isinstance(backend, str):
            if not isinstance(backend, Backend):
                raise ParameterError(Msg("labapi.not_a_backend", got=type(backend).__name__))
            self.backend, self.backend_reason = backend, f"given: {backend!r}"
            return
        kind, self.backend_reason = choose_backend(backend)
        if kind == "kind":
            try:
                from lablib.backends.kind import KindBackend
            except ImportError as exc:
                raise BackendUnavailable(Msg("labapi.kind_import", error=str(exc))) from exc
            kwargs = {"progress": progress, **options}
            if name is not None:
                kwargs["name"] = name
            self.backend = KindBackend(**kwargs)
        else:
            from lablib.backends.mesh import MeshBackend

            self.backend = MeshBackend(name or "default", workers=workers, service_time_ms=service_time_ms,
                                       persist=persist, attach_only=attach_only, progress=progress, **options)

    # The Backend protocol, forwarded.
    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate then apply every object in ``path`` (like ``kubectl apply -f``); ``Kind/name`` of each."""
        return self.backend.apply(path, progress=progress)

    def delete(self, path: PathLike) -> list[str]:
        """Delete the objects of ``path`` (like ``kubectl delete -f``); a Deployment's pods stop."""
        return self.backend.delete(path)

    def fortio(self, args: str | list[str], *, pod: str | None = None,
               progress: ProgressCallback | None = None) -> FortioResult:
        """Run ``fortio load …`` in the fortio pod (or client pod ``pod``, e.g. ``"fortio-2"``: ``kubectl
        exec fortio-2``), through its sidecar; return the ``FortioResult``."""
        return self.backend.fortio(args, pod=pod, progress=progress)

    def fortio_many(self, runs: Mapping[str, str | list[str]]) -> dict[str, FortioResult]:
        """Run ``fortio load …`` from several client pods at the same time (``{"fortio": args, "fortio-2":
        args}``): all start together, and this returns when every one has ended, each pod's result by name.

        Each run goes through its own pod's sidecar, so each meets that sidecar's own circuit breakers. If a
        run fails, the others still finish, then the first failure is raised.
        """
        if not runs:
            raise LabError(Msg("labapi.fortio_many_empty"))
        with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="fortio") as pool:
            futures = {pod: pool.submit(self.fortio, args, pod=pod) for pod, args in runs.items()}
            errors = [f.exception() for f in futures.values() if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        return {pod: f.result() for pod, f in futures.items()}

    def stats(self, cluster: str | None = None, **kwargs: Any) -> ClusterStats | dict[str, ClusterStats]:
        """The client sidecar's stats for ``cluster`` (e.g.
        ``outbound|80||service-go.default.svc.cluster.local``),
        or for every outbound cluster. Embedded: ``pod=NAME`` reads that pod's sidecar instead (its
        ``inbound|80||`` cluster; ``pod="fortio"`` is the client)."""
        return self.backend.stats(cluster, **kwargs)

    def reset_counters(self) -> None:
        """Zero the sidecars' counters (Envoy ``POST /reset_counters``)."""
        self.backend.reset_counters()

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Upstream host health as the client sidecar sees it (``/clusters``: ejected hosts show up here)."""
        return self.backend.hosts(cluster)

    def proxy_config(self, what: str = "cluster", **kwargs: Any) -> str:
        """The client sidecar's config as YAML, like ``istioctl proxy-config cluster fortio -o yaml``.
        Embedded: ``pod=NAME`` shows that pod's sidecar (``istioctl proxy-config cluster NAME``)."""
        return self.backend.proxy_config(what, **kwargs)

    def cleanup(self) -> None:
        """Delete everything the lab applied and stop what it started. Idempotent."""
        self.backend.cleanup()

    def close(self) -> None:
        """Release this handle (an owned embedded lab stops; a persistent one keeps running)."""
        self.backend.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lab({self.backend!r})"

    def responses(self, since: float | None = None, *, wait_for: int = 0, timeout: float = 3.0
                  ) -> list[ResponseRecord]:
        """Per-response records of the client sidecar's access log (code, Envoy flags UO/UH/…, cluster,
        host); ``wait_for`` waits up to ``timeout`` s for that many."""
        return self.backend.responses(since, wait_for=wait_for, timeout=timeout)

    def explain(self, run: FortioResult | None = None) -> RunExplanation:
        """Every response of the last fortio run attributed to its cause, joined with the overflow
        counters."""
        return self.backend.explain(run)

    def set_fault(self, target: str, *, code: int = 503, fraction: float = 1.0,
                  delay_ms: float = 0.0, seed: int | None = None) -> list[str]:
        """Make a pod (or every pod of a Deployment) answer ``code`` for ``fraction`` of calls (``seed``: each
        call at random, a flaky instance) and take ``delay_ms`` longer on every call (a slow instance:
        ``fraction=0, delay_ms=200``); 0 and 0 heal."""
        return self.backend.set_fault(target, code=code, fraction=fraction, delay_ms=delay_ms, seed=seed)
