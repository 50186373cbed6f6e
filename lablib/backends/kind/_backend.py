"""``KindBackend``: the lab on a real kind cluster with Istio, through the ``kubernetes`` Python client.

Set-up (``start``, run lazily by the first call that needs the cluster): detect docker/kind/istioctl, create
or
reuse the kind cluster ``<name>`` from ``manifests/kind/cluster.yaml`` (recorded as the lab's own in the state
file), check the context is one the lab may touch, ``istioctl install`` when istiod is missing, build
``lablib/service-go:v1|v2`` from ``docker/service-go/Dockerfile`` and ``kind load`` them with fortio's
image, and
label the namespace for sidecar injection. With ``context=`` naming an allowed existing cluster, only the
context check, the Istio check and the injection label run.

Every request is planned by ``_plan`` (pure) and executed here; every error passes through ``_map_errors``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lablib._exceptions import BackendError, BackendUnavailable, ClusterSafetyError, FortioError, LabError
from lablib.backends.base import ClusterStats, HostStatus, ProgressCallback
from lablib.backends.kind import _plan as plan
from lablib.backends.kind._detect import INSTALL_HINTS, detect
from lablib.backends.kind._errors import _map_errors, api_message
from lablib.backends.kind._exec import ExecResult, run_cli, run_exec
from lablib.backends.kind._safety import KubeContext, check_context, load_context
from lablib.backends.kind._state import State
from lablib.i18n import Joined, Msg

if TYPE_CHECKING:
    from lablib._types import PathLike
    from lablib.envoy.access_log import ResponseRecord
    from lablib.envoy.explain import RunExplanation
    from lablib.fortio.result import FortioResult

__all__ = ["CONTEXT_ENV", "DEFAULT_TIMEOUTS", "MIN_KUBERNETES", "KindBackend", "fortio_output", "repo_root"]

#: The context ``KindBackend(context=None)`` uses when set (an existing cluster, which must still be allowed):
#: how a notebook that only says ``Lab(backend="kind")`` is pointed at one.
CONTEXT_ENV = "LABLIB_CONTEXT"

#: The oldest Kubernetes the backend works with (server-side apply with dry run and field managers, tested
#: on a real 1.20 API server in the ``apiserver`` test tier).
MIN_KUBERNETES = (1, 20)

#: Seconds allowed for each slow step. kind and istioctl wait themselves; these bound them.
DEFAULT_TIMEOUTS: dict[str, float] = {
    "create": 600.0,      # kind create cluster --wait 180s, plus pulling the node image the first time
    "istio": 600.0,       # istioctl install waits for istiod
    "image": 900.0,       # docker build (pip-free, but python:3.12-slim may need pulling) and kind load
    "ready": 300.0,       # applied Deployments/Pods ready (images are local: pull policy IfNotPresent)
    "exec": 900.0,        # one fortio load run
    "admin": 60.0,        # one pilot-agent request
}


def repo_root() -> Path:
    """The checkout this lablib comes from (for ``manifests/kind`` and the Dockerfile's build context);
    ``$LABLIB_REPO`` overrides it when lablib is installed outside its checkout."""
    override = os.environ.get("LABLIB_REPO")
    root = Path(override).expanduser() if override else Path(__file__).resolve().parents[3]
    if not (root / "manifests" / "kind" / "cluster.yaml").is_file():
        raise BackendUnavailable(Msg("kind.backend.not_a_checkout", root=root))
    return root


def fortio_output(command: list[str], result: ExecResult) -> FortioResult:
    """What ``fortio(…)`` returns for one exec: the parsed ``-json -`` result (stdout), a one-call result
    for a ``-curl`` run (the response text in ``raw["curl"]``), or a FortioError quoting the end of fortio's
    stderr when it failed."""
    if result.returncode != 0 or not result.stdout.strip():
        tail = "\n".join(result.stderr.strip().splitlines()[-10:]) or Msg("kind.backend.no_output")
        raise FortioError(Msg("kind.backend.fortio_failed", command=" ".join(command), code=result.returncode,
                              tail=tail))
    if "-json" not in command:
        return curl_result(command[-1], result.stdout)
    from lablib.fortio import read_result

    return read_result(result.stdout)


def curl_result(url: str, text: str) -> FortioResult:
    """``fortio load -curl``'s output (status line, headers, body) as a one-call FortioResult."""
    import re

    from lablib.fortio.result import FortioResult

    status = re.search(r"^HTTP/\S+ (\d{3})", text, re.M)
    code = int(status.group(1)) if status else -1
    return FortioResult(codes={code: 1}, count=1, num_threads=1, qps=0.0, requested_qps=0.0, duration_s=0.0,
                        avg_s=0.0, min_s=0.0, max_s=0.0, stddev_s=0.0, percentiles={}, sockets=1,
                        sockets_per_thread=[1], histogram=None, errors_histogram=None, url=url, labels="",
                        version="", source="fortio-curl", raw={"curl": text}, exactly=1)


@dataclass(frozen=True)
class ClusterRun:
    """One ``fortio()`` run as ``explain()`` needs it: when, and the client sidecar's stats around it."""

    result: FortioResult
    start: float
    end: float
    before: dict[str, ClusterStats] | None
    after: dict[str, ClusterStats] | None
    pod: str  # the client pod it ran in


def _print_progress(done: int, total: int, message: str) -> None:
    count = f" [{done}/{total}]" if total else ""
    print(f"lablib kind{count}: {message}", file=sys.stderr, flush=True)


class KindBackend:
    """The cluster backend. ``name`` is the lab's name: the kind cluster's name and the ``lablib.io/lab``
    label.

    Args:
        name: kind cluster name and lab label value (a DNS label).
        namespace: where objects without a namespace go; labelled ``istio-injection=enabled``.
        allow_contexts: contexts (besides kind clusters the lab created) the lab may apply to and delete from;
            ``$LABLIB_ALLOW_CONTEXTS`` (comma-separated) adds to it.
        context: None (or ``kind-<name>``) = a kind cluster of the lab's own; any other name = that existing
            cluster, which must be allowed and already run Istio. None takes ``$LABLIB_CONTEXT`` when set.
        progress: called with (done, total, message) during slow steps; default prints to stderr.
        kubeconfig: kubeconfig for ``context`` (default: ``$KUBECONFIG`` or ``~/.kube/config``). The lab's own
            kind cluster always uses the lab's kubeconfig in the state directory.
        istio_profile: ``istioctl install`` profile (``minimal``: istiod only; ``demo`` adds gateways).
        state_dir: where the state file lives (default ``$LABLIB_HOME/kind`` or ``~/.cache/lablib/kind``).
        build_images: build and ``kind load`` the service-go and fortio images during set-up.
    """

    def __init__(self, *, name: str = "istio-cb-lab", namespace: str = "default",
                 allow_contexts: tuple[str, ...] | list[str] = (), context: str | None = None,
                 progress: ProgressCallback | None = None, kubeconfig: PathLike | None = None,
                 istio_profile: str = "minimal", state_dir: PathLike | None = None,
                 build_images: bool = True, timeouts: dict[str, float] | None = None) -> None:
        self.name = plan.check_lab_name(name)
        context = context if context is not None else (os.environ.get(CONTEXT_ENV) or None)
        self.namespace = namespace
        self.allow_contexts = tuple(allow_contexts)
        self.own_cluster = context is None or context == f"kind-{name}"
        self.context_name = context or f"kind-{name}"
        self.istio_profile = istio_profile
        self.build_images = build_images
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self._progress: ProgressCallback = progress or _print_progress
        self._state = State(Path(state_dir) if state_dir is not None else None)
        self._kubeconfig = Path(kubeconfig) if kubeconfig is not None else None
        self._ctx: KubeContext | None = None
        self._api: Any = None      # kubernetes.client.ApiClient
        self._exec_api: Any = None  # a second ApiClient: the exec stream patches its client while it runs
        self._dyn: Any = None      # kubernetes.dynamic.DynamicClient
        self._applied: dict[tuple[str, str | None, str], Any] = {}  # (kind, namespace, name) -> Manifest
        self._discovery_dir: Path | None = None
        self._runs: dict[int, ClusterRun] = {}  # id(FortioResult) -> its run, for explain()
        self.last_run: ClusterRun | None = None
        self.server_version: tuple[int, int] | None = None
        self._started = False

    # -- context manager -------------------------------------------------------------------------------------
    def __enter__(self) -> KindBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KindBackend(name={self.name!r}, context={self.context_name!r}, namespace={self.namespace!r})"

    @property
    def kubeconfig(self) -> Path | None:
        """The kubeconfig in use: the lab's own for its kind cluster, else the one given (None = default)."""
        return self._state.kubeconfig if self.own_cluster else self._kubeconfig

    @property
    def state(self) -> State:
        return self._state

    # -- set-up ----------------------------------------------------------------------------------------------
    def start(self, progress: ProgressCallback | None = None) -> None:
        """Create or reuse the cluster, install Istio, load images, label the namespace. Idempotent."""
        if self._started:
            return
        say = progress or self._progress
        if self.own_cluster:
            self._start_kind(say)
        else:
            if self._dyn is None:  # cleanup() may have connected already
                self._connect(say)
            self._require_istio()
        self._warn_if_istio_is_not_the_pin(say)
        self._label_namespace(say)
        self._started = True
        say(1, 1, Msg("kind.backend.ready", context=self.context_name, namespace=self.namespace))

    def _start_kind(self, say: ProgressCallback) -> None:
        found = detect(require_istioctl=True)
        if not found.usable:
            raise BackendUnavailable(Msg("kind.backend.unavailable", reason=found.reason))
        steps = 5
        say(0, steps, Msg("kind.backend.looking_for_cluster", name=self.name))
        if self.name in self._kind_clusters():
            say(1, steps, Msg("kind.backend.reusing_cluster", name=self.name))
            with _map_errors(f"kind export kubeconfig --name {self.name}"):
                run_cli(plan.kind_export_kubeconfig_command(self.name, self._state.kubeconfig),
                        timeout=self.timeouts["admin"])
            self._connect(say, reused=True)
        else:
            say(1, steps, Msg("kind.backend.creating_cluster", name=self.name))
            self._state.directory.mkdir(parents=True, exist_ok=True)
            config = repo_root() / "manifests" / "kind" / "cluster.yaml"
            with _map_errors(f"kind create cluster --name {self.name}"):
                run_cli(plan.kind_create_command(self.name, config, self._state.kubeconfig),
                        timeout=self.timeouts["create"], on_line=lambda line: say(1, steps, line))
            # Record at once, before anything else can fail: this cluster is the lab's to delete.
            self._state.record_created(self.name, context=self.context_name, server="",
                                       kubeconfig=str(self._state.kubeconfig))
            self._connect(say, reused=True)  # fills in the API server kind chose
        say(2, steps, Msg("kind.backend.checking_istio"))
        if not self._istiod_ready():
            say(2, steps, Msg("kind.backend.installing_istio", profile=self.istio_profile))
            with _map_errors("istioctl install"):
                run_cli(plan.istioctl_install_command(self._state.kubeconfig, self.context_name,
                                                      profile=self.istio_profile),
                        timeout=self.timeouts["istio"], on_line=lambda line: say(2, steps, line))
            self._wait(lambda: self._istiod_ready(), Msg("kind.backend.istiod_ready"), self.timeouts["istio"],
                       say)
        if self.build_images:
            say(3, steps, Msg("kind.backend.building_images"))
            self._load_images(say)
        say(4, steps, Msg("kind.backend.cluster_ready"))

    def _kind_clusters(self) -> list[str]:
        with _map_errors("kind get clusters"):
            out = run_cli(["kind", "get", "clusters"], timeout=self.timeouts["admin"]).stdout
        return [line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()]

    def _load_context(self) -> tuple[KubeContext, Any]:
        with _map_errors(Msg("kind.backend.loading_context", context=self.context_name)):
            return load_context(self.kubeconfig, self.context_name, temp_dir=self._state.directory)

    def _connect(self, say: ProgressCallback, *, reused: bool = False) -> None:
        """Load the context, refuse it unless the lab created it or it is allowed, then build the clients."""
        from kubernetes import client, dynamic

        ctx, api = self._load_context()
        if reused and self.own_cluster and self._state.created(self.name) is not None:
            # The lab's own cluster, just created or found by `kind get clusters`; kind picks (and after a
            # restart may change) the API server's port, so the record follows it.
            self._state.update_server(self.name, ctx.server)
        try:
            check_context(ctx, state=self._state, allow=self.allow_contexts)
        except ClusterSafetyError as exc:
            if reused and self.own_cluster:  # kind lists the cluster, the state file does not
                raise ClusterSafetyError(Msg("kind.backend.unrecorded_cluster", name=self.name,
                                             path=self._state.path, context=ctx.name, error=exc)) from None
            raise
        self._ctx, self._api = ctx, api
        self._exec_api = client.ApiClient(configuration=api.configuration)
        self.server_version = self._check_version()
        # A discovery cache of this connection's own: the client's on-disk cache never expires and is shared
        # by every process, so a deleted CRD would still look served (and a new one missing).
        self._state.directory.mkdir(parents=True, exist_ok=True)
        self._discovery_dir = Path(tempfile.mkdtemp(prefix="discovery-", dir=self._state.directory))
        with _map_errors(Msg("kind.backend.discovery", server=ctx.server)):
            self._dyn = dynamic.DynamicClient(api, cache_file=str(self._discovery_dir / "cache.json"))
        say(0, 0, Msg("kind.backend.connected", context=ctx.name, server=ctx.server))

    def _check_version(self) -> tuple[int, int]:
        """The API server's (major, minor); BackendUnavailable when it is older than MIN_KUBERNETES."""
        import json
        import re

        from kubernetes import client

        with _map_errors(Msg("kind.backend.reading_version", context=self.context_name)):
            raw = client.VersionApi(self._api).get_code(_preload_content=False)
            info = json.loads(raw.data or b"{}")
        digits = [re.match(r"\d+", str(info.get(k) or "")) for k in ("major", "minor")]
        version = (int(digits[0].group()) if digits[0] else 0, int(digits[1].group()) if digits[1] else 0)
        if version < MIN_KUBERNETES:
            raise BackendUnavailable(Msg("kind.backend.too_old", context=self.context_name,
                                         version=str(info.get("gitVersion", "?")),
                                         minimum=".".join(map(str, MIN_KUBERNETES))))
        return version

    def _istiod_ready(self) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with _map_errors(Msg("kind.backend.reading_istiod")):
            try:
                dep = client.AppsV1Api(self._api).read_namespaced_deployment("istiod", "istio-system")
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        body = self._api.sanitize_for_serialization(dep)
        body.setdefault("kind", "Deployment")
        return plan.is_ready(body)

    def istiod_version(self) -> str | None:
        """istiod's version, from the image tag of ``istio-system/istiod`` (``…/pilot:1.30.0``); None when
        there is none or this user may not read it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with _map_errors(Msg("kind.backend.reading_istiod")):
            try:
                dep = client.AppsV1Api(self._api).read_namespaced_deployment("istiod", "istio-system")
            except ApiException as exc:
                if exc.status in (403, 404):
                    return None
                raise
        images = [c.image or "" for c in (dep.spec.template.spec.containers or [])]
        tags = [i.rpartition(":")[2] for i in images if ":" in i.rpartition("/")[2]]
        return tags[0] if tags else None

    def _warn_if_istio_is_not_the_pin(self, say: ProgressCallback) -> None:
        """The lab shows what Istio 1.30 configures: say so when this cluster's istiod is another release."""
        import warnings

        from lablib._exceptions import LabWarning
        from lablib.translate.version import istiod_version_warning

        message = istiod_version_warning(self.istiod_version())
        if message:
            say(2, 4, Joined([message], first_line=True))
            warnings.warn(message, LabWarning, stacklevel=3)

    def _require_istio(self) -> None:
        """An existing cluster must already run Istio: its DestinationRule kind must be served."""
        if self._preferred("networking.istio.io", "DestinationRule") is None:
            raise BackendUnavailable(Msg("kind.backend.no_istio", context=self.context_name,
                                         hint=INSTALL_HINTS["istioctl"]))

    def _load_images(self, say: ProgressCallback) -> None:
        root = repo_root()
        images = []
        for version in ("v1", "v2"):
            say(3, 5, f"docker build {plan.service_go_image(version)}")
            with _map_errors(Msg("kind.backend.building", image=plan.service_go_image(version))):
                run_cli(plan.docker_build_command(version, root), timeout=self.timeouts["image"],
                        on_line=lambda line: say(3, 5, line))
            images.append(plan.service_go_image(version))
        try:
            with _map_errors(f"docker pull {plan.FORTIO_IMAGE}"):
                run_cli(["docker", "pull", plan.FORTIO_IMAGE], timeout=self.timeouts["image"])
            images.append(plan.FORTIO_IMAGE)
        except Exception as exc:  # the node can still pull it itself when it has a route to the registry
            say(3, 5, Msg("kind.backend.pull_failed", image=plan.FORTIO_IMAGE, error=exc))
        for image in images:
            say(3, 5, f"kind load docker-image {image}")
            with _map_errors(f"kind load docker-image {image}"):
                run_cli(plan.kind_load_command(image, self.name), timeout=self.timeouts["image"])

    def _label_namespace(self, say: ProgressCallback) -> None:
        req = plan.injection_label_request(self.namespace)
        if self._read("v1", "Namespace", self.namespace, None) is None:
            # Labelling creates it: record that first, so cleanup deletes it (injection label and all).
            assert self._ctx is not None
            self._state.record_namespace(self._ctx.name, self.name, self.namespace)
            say(0, 0, Msg("kind.backend.creating_namespace", namespace=self.namespace))
        else:
            say(0, 0, Msg("kind.backend.labelling_namespace", namespace=self.namespace))
        self._send_apply(req)

    # -- requests --------------------------------------------------------------------------------------------
    def _resource(self, api_version: str, kind: str) -> Any:
        """The API resource for (apiVersion, kind); a clear error when the server does not serve it."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        # search() has re-discovered once before it gives up
        with (_map_errors(Msg("kind.backend.looking_up", api_version=api_version, kind=kind)),
              contextlib.suppress(ResourceNotFoundError)):
            return self._dyn.resources.get(api_version=api_version, kind=kind)
        raise self._not_served(api_version, kind)

    def _not_served(self, api_version: str, kind: str) -> BackendUnavailable:
        hint: str = ""
        if api_version.startswith("networking.istio.io/"):
            hint = Msg("kind.backend.no_istio_crds", context=self.context_name,
                       install=INSTALL_HINTS["istioctl"])
        return BackendUnavailable(Msg("kind.backend.not_served", context=self.context_name,
                                      api_version=api_version, kind=kind, hint=hint))

    def _rediscover(self) -> None:
        """Forget what discovery knew (after a 404 that says a kind may have gone, e.g. a deleted CRD)."""
        with _map_errors(Msg("kind.backend.discovery",
                             server=self._ctx.server if self._ctx else self.context_name)):
            self._dyn.resources.invalidate_cache()

    def _preferred(self, group: str, kind: str) -> Any | None:
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

    def _send_apply(self, req: plan.ApplyRequest, *, dry_run: bool = False) -> Any:
        from kubernetes.client.exceptions import ApiException

        resource = self._resource(req.api_version, req.kind)
        what = Msg("kind.backend.dry_run_apply", ref=req.ref) if dry_run else Msg("kind.backend.apply",
                                                                                   ref=req.ref)
        with _map_errors(what):
            try:
                return self._with_retry_after(lambda: self._dyn.server_side_apply(
                    resource, body=req.body, name=req.name, namespace=req.namespace,
                    field_manager=req.field_manager, force_conflicts=req.force_conflicts,
                    dry_run="All" if dry_run else None))
            except ApiException as exc:
                if exc.status == 404:  # the kind may have gone since discovery (its CRD deleted)
                    self._rediscover()
                    if self._preferred(plan.group_of(req.api_version), req.kind) is None:
                        raise self._not_served(req.api_version, req.kind) from exc
                if exc.status == 500 and self.server_version is not None and self.server_version < (1, 21):
                    raise BackendError(Msg("kind.backend.apply_bug_1_20", ref=req.ref, said=api_message(exc),
                                           major=self.server_version[0],
                                           minor=self.server_version[1])) from exc
                raise

    def _with_retry_after(self, send: Callable[[], Any], attempts: int = 20) -> Any:
        """Send; when the server says "try again" (429, or 500 ServerTimeout with ``retryAfterSeconds``, e.g.
        a Pod in a namespace whose ServiceAccount token is not made yet), wait as told and send again."""
        import json

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

    def _read(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        """The object as the server has it now, or None when it does not exist (or its kind is not served)."""
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            resource = self._resource(api_version, kind)
        except BackendUnavailable:
            return None
        with _map_errors(Msg("kind.backend.reading", ref=f"{kind}/{name}")):
            try:
                return self._dyn.get(resource, name=name, namespace=namespace).to_dict()
            except NotFoundError:
                return None

    def _send_delete(self, req: plan.DeleteRequest) -> bool:
        """Delete one object; False when it was already gone."""
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(req.api_version, req.kind)
        with _map_errors(Msg("kind.backend.delete", ref=req.ref)):
            try:
                self._dyn.delete(resource, name=req.name, namespace=req.namespace,
                                 propagation_policy=req.propagation_policy)
            except NotFoundError:
                return False
        return True

    def _ensure(self) -> None:
        if not self._started:
            self.start()

    # -- Backend API -----------------------------------------------------------------------------------------
    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate, then server-side apply every object in ``path`` (labelled ``lablib.io/lab=<name>``) and
        wait
        for its Deployments and Pods to be ready. A server-side dry run of the whole file goes first, so an
        object the API server rejects means nothing was applied. Returns ``Kind/name`` of each object."""
        from lablib.manifests import load_file

        say = progress or self._progress
        objects = load_file(path, context=tuple(self._applied.values()))
        if self._started:  # another handle's cleanup may have deleted the lab's namespace since
            self._label_namespace(say)
        self._ensure()
        requests = plan.plan_apply(objects, lab=self.name, namespace=self.namespace)
        new_namespaces = {r.name for r in requests if r.kind == "Namespace"}
        for req in requests:
            if req.namespace not in new_namespaces and req.kind != "CustomResourceDefinition":
                self._send_apply(req, dry_run=True)
        assert self._ctx is not None
        self._state.record_applied(self._ctx.name, self.name, [(r.api_version, r.kind) for r in requests])
        # The dry run cannot catch everything (a 1.20 server allocates a Service's clusterIP only for real):
        # keep what each object was, so a rejection part-way can put back what this apply changed.
        before = [self._read(r.api_version, r.kind, r.name, r.namespace) for r in requests]
        done: list[int] = []
        try:
            for i, req in enumerate(requests):
                self._send_apply(req)
                done.append(i)
                say(i + 1, len(requests), Msg("kind.backend.applied", ref=req.ref))
        except LabError as exc:
            raise self._roll_back([(requests[i], before[i]) for i in reversed(done)], exc) from exc
        for obj in objects:  # the lab's view for cross-object validation of later files
            (one,) = plan.plan_apply([obj], lab=self.name, namespace=self.namespace)
            self._applied[(one.kind, one.namespace, one.name)] = obj
        self._wait_ready(requests, say)
        return [r.ref for r in requests]

    def _roll_back(self, done: list[tuple[plan.ApplyRequest, dict[str, Any] | None]],
                   cause: LabError) -> BackendError:
        """Undo the applies in ``done`` (newest first): delete what they created, put back what they changed
        (the previous object, its field managers included). Returns the error to raise."""
        restored: list[str] = []
        failed: list[Msg] = []
        for req, previous in done:
            try:
                if previous is None:
                    self._send_delete(plan.DeleteRequest(req.api_version, req.kind, req.name, req.namespace))
                else:
                    self._restore(req, previous)
                restored.append(req.ref)
            except LabError as exc:
                failed.append(Msg("kind.backend.rollback_item", ref=req.ref, error=exc))
        if failed:
            return BackendError(Msg("kind.backend.rollback_failed", cause=cause, failed=failed,
                                    restored=restored or Msg("kind.backend.nothing")))
        if restored:
            return BackendError(Msg("kind.backend.nothing_applied_rolled_back", cause=cause, refs=restored))
        return BackendError(Msg("kind.backend.nothing_applied", cause=cause))

    def _restore(self, req: plan.ApplyRequest, previous: dict[str, Any]) -> None:
        """PUT the previous object back over the one this apply changed (current resourceVersion)."""
        resource = self._resource(req.api_version, req.kind)
        body = dict(previous)
        current = self._read(req.api_version, req.kind, req.name, req.namespace)
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

    def _wait_ready(self, requests: list[plan.ApplyRequest], say: ProgressCallback) -> None:
        watched = [r for r in requests if r.kind in ("Deployment", "Pod")]
        if not watched:
            return

        def pending() -> list[str]:
            out = []
            for r in watched:
                with _map_errors(Msg("kind.backend.reading", ref=r.ref)):
                    obj = self._dyn.get(self._resource(r.api_version, r.kind), name=r.name,
                                        namespace=r.namespace).to_dict()
                if not plan.is_ready(obj):
                    out.append(r.ref)
            return out

        def ready() -> bool:
            waiting = pending()
            said = Msg("kind.backend.waiting_for", refs=waiting) if waiting else Msg("kind.backend.all_ready")
            say(len(watched) - len(waiting), len(watched), said)
            return not waiting

        self._wait(ready, Msg("kind.backend.workloads_ready"), self.timeouts["ready"], say)

    def _wait(self, condition: Callable[[], bool], what: str, timeout: float, say: ProgressCallback,
              period: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                with _map_errors(what):
                    raise TimeoutError(Msg("kind.backend.wait_timeout", what=what, timeout=timeout))
            time.sleep(period)

    def delete(self, path: PathLike) -> list[str]:
        """Delete every object in ``path`` that exists (like ``kubectl delete -f --ignore-not-found``)."""
        from lablib.manifests import load_file

        objects = load_file(path, cross_checks=False)  # deleting needs no cross-object checks
        self._ensure()
        deleted = []
        for req in plan.plan_delete(objects, namespace=self.namespace):
            if self._send_delete(req):
                deleted.append(req.ref)
            self._applied.pop((req.kind, req.namespace, req.name), None)
        return list(reversed(deleted))

    def _fortio_pod(self) -> str:
        items = self._pods(selector="app=fortio")
        pod = plan.pick_pod(items, app="fortio", container=plan.FORTIO_CONTAINER)
        if pod is None:
            raise FortioError(Msg("kind.backend.no_fortio_pod", namespace=self.namespace))
        return pod

    def _exec(self, req: plan.ExecRequest, *, timeout: float,
              on_stderr: Callable[[str], None] | None = None, what: str | None = None) -> ExecResult:
        from kubernetes import client

        with _map_errors(what or f"`{req.kubectl()}`"):
            return run_exec(client.CoreV1Api(self._exec_api), req, timeout=timeout, on_stderr=on_stderr)

    def fortio(self, args: str | list[str], *, pod: str | None = None,
               progress: ProgressCallback | None = None) -> FortioResult:
        """``kubectl exec fortio -c fortio -- /usr/bin/fortio load … -json -`` (``pod``: exec into that
        client pod instead, e.g. ``fortio-2``); returns the parsed
        ``lablib.fortio`` result (stdout is the JSON, stderr fortio's log). A ``-curl`` run returns a one-call
        result with the response text in ``raw["curl"]``. The client sidecar's stats are read before and
        after, for ``explain()``."""
        say = progress or self._progress
        command = plan.fortio_command(args)
        self._ensure()
        req = plan.ExecRequest(self._pod(pod), self.namespace, plan.FORTIO_CONTAINER, command)
        say(0, 0, req.kubectl())
        before = self._outbound_stats_or_none(req.pod)
        start = time.time()
        result = self._exec(req, timeout=self.timeouts["exec"],
                            on_stderr=lambda chunk: [say(0, 0, line) for line in chunk.splitlines() if line])
        end = time.time()
        parsed = fortio_output(command, result)
        self.last_run = ClusterRun(parsed, start, end, before, self._outbound_stats_or_none(req.pod), req.pod)
        self._runs[id(parsed)] = self.last_run
        while len(self._runs) > 64:  # the recent runs stay explainable, not every run of a long session
            del self._runs[next(iter(self._runs))]
        return parsed

    def _outbound_stats_or_none(self, pod: str) -> dict[str, ClusterStats] | None:
        from lablib.envoy.admin import split_by_cluster

        with contextlib.suppress(LabError):
            return split_by_cluster(self._flat_stats(pod), prefix="outbound|")
        return None

    def _flat_stats(self, pod: str | None) -> dict[str, int]:
        from lablib.envoy.admin import parse_stats

        return parse_stats(self._admin("GET", "stats", pod=pod))

    def _pods(self, selector: str | None = None) -> list[dict[str, Any]]:
        """The namespace's pods as plain dicts (the dynamic client: no typed model to reject a field)."""
        resource = self._resource("v1", "Pod")
        with _map_errors(Msg("kind.backend.listing_pods", namespace=self.namespace)):
            listed = self._dyn.get(resource, namespace=self.namespace, label_selector=selector).to_dict()
        return list(listed.get("items") or [])

    def _pod(self, pod: str | None) -> str:
        """``pod`` itself (or the one pod of Deployment ``pod``); None = the fortio pod (the client)."""
        if pod is None:
            return self._fortio_pod()
        items = self._pods()
        found = plan.pods_of_target(items, pod)
        if pod in found:
            return pod
        if len(found) == 1:
            return found[0]
        names = sorted(i["metadata"]["name"] for i in items) or Msg("kind.none")
        raise LabError(Msg("kind.backend.no_pod", pod=pod, namespace=self.namespace, n=len(found),
                           pods=names))

    def _admin(self, method: str, path: str, *, pod: str | None = None) -> str:
        self._ensure()
        req = plan.ExecRequest(self._pod(pod), self.namespace, plan.SIDECAR_CONTAINER,
                               plan.admin_command(method, path))
        result = self._exec(req, timeout=self.timeouts["admin"])
        if result.returncode != 0:
            raise BackendError(Msg("kind.backend.admin_failed", command=req.kubectl(), code=result.returncode,
                                   stderr=result.stderr.strip()[-500:]))
        return result.stdout

    def stats(self, cluster: str | None = None, *, pod: str | None = None
              ) -> ClusterStats | dict[str, ClusterStats]:
        """The fortio sidecar's Envoy stats (``pilot-agent request GET stats``) for one cluster, or for every
        ``outbound|`` cluster; with ``pod``, that pod's sidecar (its ``inbound|`` clusters; a fortio pod's
        ``outbound|`` ones). Needs the pod's ``proxyStatsMatcher`` annotation for the breaker stats (see
        fortio.yaml)."""
        from lablib.envoy.admin import cluster_names, cluster_stats

        flat = self._flat_stats(pod)
        client = pod is None or plan.is_client_pod(pod)
        names = cluster_names(flat, prefix="outbound|" if client else "inbound|")
        if cluster is not None:
            if cluster not in cluster_names(flat, prefix=""):
                where = (Msg("kind.backend.pods_sidecar", pod=pod) if pod
                         else Msg("kind.backend.fortio_sidecar"))
                raise LabError(Msg("kind.backend.no_envoy_cluster", cluster=cluster, where=where,
                                   names=list(names) or Msg("kind.backend.no_clusters")))
            return cluster_stats(flat, cluster)
        return {name: cluster_stats(flat, name) for name in names}

    def reset_counters(self) -> None:
        """``pilot-agent request POST reset_counters`` in the fortio pod's ``istio-proxy``."""
        self._admin("POST", "reset_counters")

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Host health as the fortio sidecar sees it (``pilot-agent request GET clusters``)."""
        from lablib.envoy.admin import parse_clusters

        hosts = parse_clusters(self._admin("GET", "clusters"))
        return [h for h in hosts if cluster is None or h.cluster == cluster]

    def proxy_config(self, what: str = "cluster", *, pod: str | None = None) -> str:
        """``istioctl proxy-config cluster POD.<ns> -o yaml`` (default POD: fortio) when istioctl is on PATH,
        else that sidecar's ``config_dump`` (clusters, routes or listeners) as YAML."""
        self._ensure()
        name = self._pod(pod)
        if shutil.which("istioctl"):
            argv = plan.istioctl_proxy_config_command(what, name, self.namespace, self.kubeconfig,
                                                      self.context_name)
            with _map_errors(" ".join(argv)):
                return run_cli(argv, timeout=self.timeouts["admin"]).stdout
        import json

        import yaml

        resource, key = plan.config_dump_resource(what)
        dump = json.loads(self._admin("GET", f"config_dump?resource={resource}", pod=pod))
        items = []
        for c in dump.get("configs", []):
            item = c.get(key) or (c.get("active_state") or {}).get(key) or c
            items.append({k: v for k, v in item.items() if k != "@type"})
        return yaml.safe_dump(items, sort_keys=False)

    # -- the access log and the app's fault knob -------------------------------------------------------------
    def responses(self, since: float | None = None, *, wait_for: int = 0, timeout: float = 3.0
                  ) -> list[ResponseRecord]:
        """The fortio sidecar's access log (``kubectl logs fortio -c istio-proxy``, Istio's text format;
        needs ``meshConfig.accessLogFile=/dev/stdout``, which the lab's ``istioctl install`` sets), those
        started at/after ``since``; ``wait_for`` waits up to ``timeout`` s until that many are there."""
        self._ensure()
        return self._access_log(self._fortio_pod(), since, wait_for, timeout)

    def _access_log(self, pod: str, since: float | None, wait_for: int, timeout: float
                    ) -> list[ResponseRecord]:
        from kubernetes import client

        from lablib.backends.kind._access_log import parse_istio_access_log

        deadline = time.monotonic() + timeout
        while True:
            since_s = None if since is None else max(1, int(time.time() - since) + 2)
            with _map_errors(f"kubectl logs {pod} -n {self.namespace} -c {plan.SIDECAR_CONTAINER}"):
                text = client.CoreV1Api(self._api).read_namespaced_pod_log(
                    pod, self.namespace, container=plan.SIDECAR_CONTAINER, since_seconds=since_s)
            records = parse_istio_access_log(str(text).splitlines(), since=since)
            if len(records) >= wait_for or time.monotonic() > deadline:
                return records
            time.sleep(0.25)

    def explain(self, run: FortioResult | None = None) -> RunExplanation:
        """Every response of a ``fortio()`` run (default: the last) by cause, from the fortio sidecar's access
        log, next to the client counters the run moved. Server sidecars' counters are not read here."""
        from lablib.envoy.explain import counter_deltas, explain_run

        found = self.last_run if run is None else self._runs.get(id(run))
        if found is None or (run is not None and found.result is not run):
            raise LabError(Msg("kind.backend.explain_first"))
        records = [r for r in self._access_log(found.pod, found.start - 1.0, found.result.count, 5.0)
                   if r.start_time <= found.end + 1.0]
        counters = (counter_deltas(found.before, found.after)
                    if found.before is not None and found.after is not None else None)
        return explain_run(records, client_counters=counters)

    def set_fault(self, target: str, *, code: int = 503, fraction: float = 1.0) -> list[str]:
        """service-go's ``POST /fault`` in pod ``target`` (or every pod of Deployment ``target``), sent from
        inside its app container (the knob only listens to loopback). Returns the pods changed."""
        self._ensure()
        items = self._pods()
        names = plan.pods_of_target(items, target)
        if not names:
            known = sorted(i["metadata"]["name"] for i in items) or Msg("kind.none")
            raise LabError(Msg("kind.backend.no_target", target=target, namespace=self.namespace, pods=known))
        by_name = {i["metadata"]["name"]: i for i in items}
        for name in names:
            container = plan.app_container(by_name[name]) or "service-go"
            req = plan.ExecRequest(name, self.namespace, container, plan.fault_command(code, fraction))
            what = Msg("kind.backend.set_fault_what", pod=name, container=container)
            result = self._exec(req, timeout=self.timeouts["admin"], what=what)
            if result.returncode != 0:
                raise BackendError(Msg("kind.backend.set_fault_failed", pod=name, command=req.kubectl(),
                                       code=result.returncode, stderr=result.stderr.strip()[-300:]))
        return names

    def cleanup(self, delete_cluster: bool = False) -> None:
        """Delete every object labelled ``lablib.io/lab=<name>`` (tolerating ones already gone). With
        ``delete_cluster=True`` also delete the kind cluster, only if the state file says the lab created it.
        Never creates a cluster; idempotent."""
        say = self._progress
        if self.own_cluster and not self._started:
            if not shutil.which("kind") or self.name not in self._kind_clusters():
                say(0, 0, Msg("kind.backend.nothing_to_clean", name=self.name))
                if delete_cluster:
                    self._state.forget(self.name)  # it is gone already
                return
            with _map_errors(f"kind export kubeconfig --name {self.name}"):
                run_cli(plan.kind_export_kubeconfig_command(self.name, self._state.kubeconfig),
                        timeout=self.timeouts["admin"])
        if self._dyn is None:
            self._connect(say, reused=self.own_cluster)
        assert self._ctx is not None
        deleted = self.delete_labelled()
        say(len(deleted), len(deleted),
            Msg("kind.backend.deleted_labelled", n=len(deleted), selector=plan.cleanup_selector(self.name)))
        self._applied.clear()
        self._state.forget_applied(self._ctx.name, self.name)
        self._delete_created_namespaces(say)
        if delete_cluster:
            self._delete_cluster(say)

    def _delete_created_namespaces(self, say: ProgressCallback) -> None:
        """Delete the namespaces the lab created (recorded when it labelled them) and wait until they are
        gone, so a new lab can create them again at once."""
        assert self._ctx is not None
        names = [n for n in self._state.created_namespaces(self._ctx.name, self.name)
                 if n not in plan.PROTECTED_NAMESPACES]
        for ns in names:
            say(0, len(names), Msg("kind.backend.deleting_namespace", namespace=ns))
            self._send_delete(plan.DeleteRequest("v1", "Namespace", ns, None))
        if names:
            self._wait(lambda: all(self._read("v1", "Namespace", n, None) is None for n in names),
                       Msg("kind.backend.namespaces_deleted", names=names), self.timeouts["ready"], say,
                       period=0.5)
        self._state.forget_namespaces(self._ctx.name, self.name)  # the next apply creates it again

    def delete_labelled(self) -> list[str]:
        """List every kind cleanup knows (defaults + what the state says was applied) by the lab's label,
        across
        namespaces, and delete the selection. Returns ``Kind/name`` of what was deleted."""
        assert self._ctx is not None
        selector = plan.cleanup_selector(self.name)
        requests: list[plan.DeleteRequest] = []
        for group, kind in plan.cleanup_kinds(self._state.applied_kinds(self._ctx.name, self.name)):
            resource = self._preferred(group, kind)
            if resource is None:
                continue
            listed = self._list(resource, selector)
            if listed is None:  # served when discovery ran, gone now (its CRD deleted): nothing to delete
                continue
            items = [{"apiVersion": resource.group_version, "kind": kind, **item}
                     for item in listed.get("items", [])]
            requests += plan.select_for_cleanup(items, lab=self.name)
        return [r.ref for r in requests if self._send_delete(r)]

    def _list(self, resource: Any, selector: str) -> dict[str, Any] | None:
        """List ``resource`` by label across namespaces; None when the server no longer serves it."""
        from kubernetes.dynamic.exceptions import NotFoundError

        for attempt in (1, 2):
            with _map_errors(Msg("kind.backend.listing", kind=resource.kind, selector=selector)):
                try:
                    return self._dyn.get(resource, label_selector=selector).to_dict()
                except NotFoundError:
                    if attempt == 2:
                        raise
            self._rediscover()
            resource = self._preferred(resource.group, resource.kind)
            if resource is None:
                return None
        return None

    def _delete_cluster(self, say: ProgressCallback) -> None:
        record = self._state.created(self.name)
        if not self.own_cluster or record is None:
            raise ClusterSafetyError(Msg("kind.backend.not_deleting_cluster", context=self.context_name,
                                         path=self._state.path, selector=plan.cleanup_selector(self.name)))
        self.close()
        say(0, 1, f"kind delete cluster --name {self.name}")
        with _map_errors(f"kind delete cluster --name {self.name}"):
            run_cli(plan.kind_delete_command(self.name, self._state.kubeconfig),
                    timeout=self.timeouts["create"])
        self._state.forget(self.name)
        say(1, 1, Msg("kind.backend.deleted_cluster", name=self.name))

    def close(self) -> None:
        """Release the API connections. The cluster and what was applied stay (``cleanup`` removes them)."""
        for api in (self._api, self._exec_api):
            if api is not None:
                api.close()
        self._api = self._exec_api = self._dyn = None
        self._ctx = None
        self._started = False
        if self._discovery_dir is not None:
            shutil.rmtree(self._discovery_dir, ignore_errors=True)
            self._discovery_dir = None
