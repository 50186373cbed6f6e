"""``KubeApi``: the cluster backend's one connection to a Kubernetes API server.

Discovery (a cache of this connection's own), server-side apply with the server's "try again" honoured, reads,
deletes, lists, the exec stream and pod logs. Every call runs inside ``_errors._map_errors``, the one place
where ``ApiException``, ``OSError`` and timeouts become lablib errors: nothing above this module sees a
kubernetes client exception. What to send is decided by ``_plan`` (pure); which context may be touched by
``_safety`` (checked before a ``KubeApi`` is made).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lablib._exceptions import BackendError, BackendUnavailable
from lablib.backends.kind import _plan as plan
from lablib.backends.kind._detect import INSTALL_HINTS
from lablib.backends.kind._errors import _map_errors, api_message
from lablib.backends.kind._exec import ExecResult, run_exec
from lablib.backends.kind._safety import KubeContext
from lablib.i18n import Msg

__all__ = ["MIN_KUBERNETES", "KubeApi", "wait_until", "with_retry_after"]

#: The oldest Kubernetes the backend works with (server-side apply with dry run and field managers, tested
#: on a real 1.20 API server in the ``apiserver`` test tier).
MIN_KUBERNETES = (1, 20)


def with_retry_after(send: Callable[[], Any], attempts: int = 20) -> Any:
    """Send; when the server says "try again" (429, or 500 ServerTimeout with ``retryAfterSeconds``, e.g.
    a Pod in a namespace whose ServiceAccount token is not made yet), wait as told and send again."""
    from kubernetes.client.exceptions import ApiException

    for attempt in range(attempts):
        try:
            return send()
        except ApiException as exc:
            with contextlib.suppress(ValueError, TypeError):
                status = json.loads(exc.body or "{}")
                if isinstance(status, dict) and attempt + 1 < attempts and (
                        exc.status == 429 or status.get("reason") == "ServerTimeout"):
                    wait = (status.get("details") or {}).get("retryAfterSeconds") or 1
                    time.sleep(min(float(wait), 5.0))
                    continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def wait_until(condition: Callable[[], bool], what: str, timeout: float, period: float = 2.0) -> None:
    """Poll ``condition`` every ``period`` s; a lablib timeout error naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            with _map_errors(what):
                raise TimeoutError(Msg("kind.backend.wait_timeout", what=what, timeout=timeout))
        time.sleep(period)


class KubeApi:
    """The API clients of one allowed context: ``ctx`` (name and server), ``server_version`` (major, minor).

    ``open`` checks the server's version (``BackendUnavailable`` below ``MIN_KUBERNETES``) and starts a
    discovery cache in a fresh directory under ``cache_root``; ``close`` releases both clients and the cache.
    """

    def __init__(self, ctx: KubeContext, api: Any, *, cache_root: Path) -> None:
        from kubernetes import client

        self.ctx = ctx
        self._api = api  # kubernetes.client.ApiClient
        self._exec_api = client.ApiClient(configuration=api.configuration)  # the exec stream patches its own
        self._dyn: Any = None  # kubernetes.dynamic.DynamicClient, once open
        self._cache_root = cache_root
        self._discovery_dir: Path | None = None
        self.server_version: tuple[int, int] = (0, 0)

    @classmethod
    def open(cls, ctx: KubeContext, api: Any, *, cache_root: Path) -> KubeApi:
        """Connect to ``ctx``'s server: version check, then discovery."""
        from kubernetes import dynamic

        kube = cls(ctx, api, cache_root=cache_root)
        try:
            kube.server_version = kube._check_version()
            # A discovery cache of this connection's own: the client's on-disk cache never expires and is
            # shared by every process, so a deleted CRD would still look served (and a new one missing).
            cache_root.mkdir(parents=True, exist_ok=True)
            kube._discovery_dir = Path(tempfile.mkdtemp(prefix="discovery-", dir=cache_root))
            with _map_errors(Msg("kind.backend.discovery", server=ctx.server)):
                kube._dyn = dynamic.DynamicClient(api, cache_file=str(kube._discovery_dir / "cache.json"))
        except BaseException:
            kube.close()
            raise
        return kube

    def close(self) -> None:
        for api in (self._api, self._exec_api):
            if api is not None:
                api.close()
        self._api = self._exec_api = self._dyn = None
        if self._discovery_dir is not None:
            shutil.rmtree(self._discovery_dir, ignore_errors=True)
            self._discovery_dir = None

    def _check_version(self) -> tuple[int, int]:
        """The API server's (major, minor); BackendUnavailable when it is older than MIN_KUBERNETES."""
        from kubernetes import client

        with _map_errors(Msg("kind.backend.reading_version", context=self.ctx.name)):
            raw = client.VersionApi(self._api).get_code(_preload_content=False)
            info = json.loads(raw.data or b"{}")
        digits = [re.match(r"\d+", str(info.get(k) or "")) for k in ("major", "minor")]
        version = (int(digits[0].group()) if digits[0] else 0, int(digits[1].group()) if digits[1] else 0)
        if version < MIN_KUBERNETES:
            raise BackendUnavailable(Msg("kind.backend.too_old", context=self.ctx.name,
                                         version=str(info.get("gitVersion", "?")),
                                         minimum=".".join(map(str, MIN_KUBERNETES))))
        return version

    # -- discovery -------------------------------------------------------------------------------------------
    def resource(self, api_version: str, kind: str) -> Any:
        """The API resource for (apiVersion, kind); a clear error when the server does not serve it."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        # search() has re-discovered once before it gives up
        with (_map_errors(Msg("kind.backend.looking_up", api_version=api_version, kind=kind)),
              contextlib.suppress(ResourceNotFoundError)):
            return self._dyn.resources.get(api_version=api_version, kind=kind)
        raise self.not_served(api_version, kind)

    def not_served(self, api_version: str, kind: str) -> BackendUnavailable:
        hint: str = ""
        if api_version.startswith("networking.istio.io/"):
            hint = Msg("kind.backend.no_istio_crds", context=self.ctx.name, install=INSTALL_HINTS["istioctl"])
        return BackendUnavailable(Msg("kind.backend.not_served", context=self.ctx.name,
                                      api_version=api_version, kind=kind, hint=hint))

    def rediscover(self) -> None:
        """Forget what discovery knew (after a 404 that says a kind may have gone, e.g. a deleted CRD)."""
        with _map_errors(Msg("kind.backend.discovery", server=self.ctx.server)):
            self._dyn.resources.invalidate_cache()

    def preferred(self, group: str, kind: str) -> Any | None:
        """The preferred version of (group, kind), or None when the server does not serve it."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError
        from kubernetes.dynamic.resource import ResourceList

        with _map_errors(Msg("kind.backend.looking_up", api_version=group or "core", kind=kind)):
            try:
                found = self._dyn.resources.search(prefix="apis" if group else "api", group=group or None,
                                                   kind=kind)
            except ResourceNotFoundError:  # the group itself is gone
                found = []
        found = [r for r in found if not isinstance(r, ResourceList) and r.group == group]
        found.sort(key=lambda r: not r.preferred)
        return found[0] if found else None

    # -- objects ---------------------------------------------------------------------------------------------
    def apply(self, req: plan.ApplyRequest, *, dry_run: bool = False) -> Any:
        """Server-side apply ``req`` (``dry_run``: the server checks it and keeps nothing)."""
        from kubernetes.client.exceptions import ApiException

        resource = self.resource(req.api_version, req.kind)
        what = Msg("kind.backend.dry_run_apply", ref=req.ref) if dry_run else Msg("kind.backend.apply",
                                                                                   ref=req.ref)
        with _map_errors(what):
            try:
                return with_retry_after(lambda: self._dyn.server_side_apply(
                    resource, body=req.body, name=req.name, namespace=req.namespace,
                    field_manager=req.field_manager, force_conflicts=req.force_conflicts,
                    dry_run="All" if dry_run else None))
            except ApiException as exc:
                if exc.status == 404:  # the kind may have gone since discovery (its CRD deleted)
                    self.rediscover()
                    if self.preferred(plan.group_of(req.api_version), req.kind) is None:
                        raise self.not_served(req.api_version, req.kind) from exc
                if exc.status == 500 and self.server_version < (1, 21):
                    raise BackendError(Msg("kind.backend.apply_bug_1_20", ref=req.ref, said=api_message(exc),
                                           major=self.server_version[0],
                                           minor=self.server_version[1])) from exc
                raise

    def read(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        """The object as the server has it now, or None when it does not exist (or its kind is not served)."""
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            resource = self.resource(api_version, kind)
        except BackendUnavailable:
            return None
        with _map_errors(Msg("kind.backend.reading", ref=f"{kind}/{name}")):
            try:
                return self._dyn.get(resource, name=name, namespace=namespace).to_dict()
            except NotFoundError:
                return None

    def get(self, req: plan.ApplyRequest) -> dict[str, Any]:
        """The object ``req`` applied, as the server has it now (an error when it is gone)."""
        with _map_errors(Msg("kind.backend.reading", ref=req.ref)):
            return self._dyn.get(self.resource(req.api_version, req.kind), name=req.name,
                                 namespace=req.namespace).to_dict()

    def delete(self, req: plan.DeleteRequest) -> bool:
        """Delete one object; False when it was already gone."""
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.resource(req.api_version, req.kind)
        with _map_errors(Msg("kind.backend.delete", ref=req.ref)):
            try:
                self._dyn.delete(resource, name=req.name, namespace=req.namespace,
                                 propagation_policy=req.propagation_policy)
            except NotFoundError:
                return False
        return True

    def list(self, resource: Any, selector: str) -> dict[str, Any] | None:
        """List ``resource`` by label across namespaces; None when the server no longer serves it."""
        from kubernetes.dynamic.exceptions import NotFoundError

        for attempt in (1, 2):
            with _map_errors(Msg("kind.backend.listing", kind=resource.kind, selector=selector)):
                try:
                    return self._dyn.get(resource, label_selector=selector).to_dict()
                except NotFoundError:
                    if attempt == 2:
                        raise
            self.rediscover()
            resource = self.preferred(resource.group, resource.kind)
            if resource is None:
                return None
        return None

    def restore(self, req: plan.ApplyRequest, previous: dict[str, Any]) -> None:
        """PUT the previous object back over the one ``req`` changed (current resourceVersion), or create it
        again when it is gone."""
        resource = self.resource(req.api_version, req.kind)
        body = dict(previous)
        current = self.read(req.api_version, req.kind, req.name, req.namespace)
        meta = dict(body.get("metadata") or {})
        if current is not None:
            meta["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        body["metadata"] = meta
        with _map_errors(Msg("kind.backend.restoring", ref=req.ref)):
            if current is None:
                meta.pop("resourceVersion", None)
                self._dyn.create(resource, body=body, namespace=req.namespace)
                return
            self._dyn.replace(resource, body=body, name=req.name, namespace=req.namespace,
                              field_manager=req.field_manager)
            # The PUT's changes count as the PUT's; a patch that changes nothing but managedFields sets them,
            # so field ownership is what it was too.
            if previous.get("metadata", {}).get("managedFields"):
                self._dyn.patch(resource, body={"metadata": {"managedFields": previous["metadata"][
                    "managedFields"]}}, name=req.name, namespace=req.namespace,
                    content_type="application/merge-patch+json")

    def istiod(self, *, missing: tuple[int, ...] = (404,)) -> dict[str, Any] | None:
        """The Deployment ``istio-system/istiod`` as plain data; None when the server answers a status in
        ``missing`` (404: not installed; 403: this user may not read it)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with _map_errors(Msg("kind.backend.reading_istiod")):
            try:
                dep = client.AppsV1Api(self._api).read_namespaced_deployment("istiod", "istio-system")
            except ApiException as exc:
                if exc.status in missing:
                    return None
                raise
        body: dict[str, Any] = self._api.sanitize_for_serialization(dep)
        body.setdefault("kind", "Deployment")
        return body

    # -- pods ------------------------------------------------------------------------------------------------
    def pods(self, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        """The namespace's pods as plain dicts (the dynamic client: no typed model to reject a field)."""
        resource = self.resource("v1", "Pod")
        with _map_errors(Msg("kind.backend.listing_pods", namespace=namespace)):
            listed = self._dyn.get(resource, namespace=namespace, label_selector=selector).to_dict()
        return list(listed.get("items") or [])

    def exec(self, req: plan.ExecRequest, *, timeout: float, on_stderr: Callable[[str], None] | None = None,
             what: str | None = None) -> ExecResult:
        """Run ``req`` in its container (``kubectl exec``)."""
        from kubernetes import client

        with _map_errors(what or f"`{req.kubectl()}`"):
            return run_exec(client.CoreV1Api(self._exec_api), req, timeout=timeout, on_stderr=on_stderr)

    def pod_log(self, pod: str, namespace: str, container: str, *, since_seconds: int | None) -> str:
        """``kubectl logs POD -c CONTAINER [--since=…s]``."""
        from kubernetes import client

        with _map_errors(f"kubectl logs {pod} -n {namespace} -c {container}"):
            return str(client.CoreV1Api(self._api).read_namespaced_pod_log(
                pod, namespace, container=container, since_seconds=since_seconds))
