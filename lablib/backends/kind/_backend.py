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

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lablib._exceptions import BackendUnavailable, ClusterSafetyError, FortioError
from lablib.backends.base import ClusterStats, HostStatus, ProgressCallback
from lablib.backends.kind import _plan as plan
from lablib.backends.kind._detect import INSTALL_HINTS, detect
from lablib.backends.kind._errors import _map_errors
from lablib.backends.kind._exec import ExecResult, run_cli, run_exec
from lablib.backends.kind._safety import KubeContext, check_context, load_context
from lablib.backends.kind._state import State

if TYPE_CHECKING:
    from lablib._types import PathLike

__all__ = ["DEFAULT_TIMEOUTS", "KindBackend", "fortio_output", "repo_root"]

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
        raise BackendUnavailable(f"the kind backend needs the lablib checkout (manifests/kind/cluster.yaml, "
                                 f"docker/service-go/Dockerfile) and {root} is not one; set LABLIB_REPO to "
                                 f"the checkout's path")
    return root


def fortio_output(command: list[str], result: ExecResult) -> Any:
    """What ``fortio(…)`` returns for one exec: the parsed ``-json -`` result (stdout), the text of a
    ``-curl`` run, or a FortioError quoting the end of fortio's stderr when it failed."""
    if result.returncode != 0 or not result.stdout.strip():
        tail = "\n".join(result.stderr.strip().splitlines()[-10:]) or "(no output)"
        shown = " ".join(command)
        raise FortioError(f"`{shown}` in the fortio pod exited with status {result.returncode}:\n{tail}")
    if "-json" not in command:
        return result.stdout
    from lablib.fortio import read_result

    return read_result(result.stdout)


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
            cluster, which must be allowed and already run Istio.
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
            self._connect(say)
            self._require_istio()
        self._label_namespace(say)
        self._started = True
        say(1, 1, f"ready: context {self.context_name}, namespace {self.namespace}")

    def _start_kind(self, say: ProgressCallback) -> None:
        found = detect(require_istioctl=True)
        if not found.usable:
            raise BackendUnavailable(found.reason + ". Or use the embedded backend: Lab(backend='embedded').")
        steps = 5
        say(0, steps, f"looking for kind cluster {self.name!r}")
        if self.name in self._kind_clusters():
            say(1, steps, f"reusing kind cluster {self.name!r}")
            with _map_errors(f"kind export kubeconfig --name {self.name}"):
                run_cli(plan.kind_export_kubeconfig_command(self.name, self._state.kubeconfig),
                        timeout=self.timeouts["admin"])
            self._connect(say, reused=True)
        else:
            say(1, steps, f"creating kind cluster {self.name!r} (a few minutes the first time)")
            self._state.directory.mkdir(parents=True, exist_ok=True)
            config = repo_root() / "manifests" / "kind" / "cluster.yaml"
            with _map_errors(f"kind create cluster --name {self.name}"):
                run_cli(plan.kind_create_command(self.name, config, self._state.kubeconfig),
                        timeout=self.timeouts["create"], on_line=lambda line: say(1, steps, line))
            # Record at once, before anything else can fail: this cluster is the lab's to delete.
            self._state.record_created(self.name, context=self.context_name, server="",
                                       kubeconfig=str(self._state.kubeconfig))
            self._connect(say, reused=True)  # fills in the API server kind chose
        say(2, steps, "checking Istio")
        if not self._istiod_ready():
            say(2, steps, f"installing Istio (istioctl install --set profile={self.istio_profile})")
            with _map_errors("istioctl install"):
                run_cli(plan.istioctl_install_command(self._state.kubeconfig, self.context_name,
                                                      profile=self.istio_profile),
                        timeout=self.timeouts["istio"], on_line=lambda line: say(2, steps, line))
            self._wait(lambda: self._istiod_ready(), "istiod ready", self.timeouts["istio"], say)
        if self.build_images:
            say(3, steps, "building and loading images")
            self._load_images(say)
        say(4, steps, "cluster ready")

    def _kind_clusters(self) -> list[str]:
        with _map_errors("kind get clusters"):
            out = run_cli(["kind", "get", "clusters"], timeout=self.timeouts["admin"]).stdout
        return [line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()]

    def _load_context(self) -> tuple[KubeContext, Any]:
        with _map_errors(f"loading context {self.context_name}"):
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
                raise ClusterSafetyError(
                    f"kind cluster {self.name!r} exists but the lab has no record of creating it "
                    f"({self._state.path}), so it will not use or delete it. Delete it with "
                    f"`kind delete cluster --name {self.name}`, or allow it with "
                    f"allow_contexts=[{ctx.name!r}].\n{exc}") from None
            raise
        self._ctx, self._api = ctx, api
        self._exec_api = client.ApiClient(configuration=api.configuration)
        cache = self._state.directory / f"discovery-{ctx.name}.json"
        self._state.directory.mkdir(parents=True, exist_ok=True)
        with _map_errors(f"API discovery on {ctx.server}"):
            self._dyn = dynamic.DynamicClient(api, cache_file=str(cache))
        say(0, 0, f"connected to {ctx.name} ({ctx.server})")

    def _istiod_ready(self) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with _map_errors("reading deployment istio-system/istiod"):
            try:
                dep = client.AppsV1Api(self._api).read_namespaced_deployment("istiod", "istio-system")
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        body = self._api.sanitize_for_serialization(dep)
        body.setdefault("kind", "Deployment")
        return plan.is_ready(body)

    def _require_istio(self) -> None:
        """An existing cluster must already run Istio: its DestinationRule kind must be served."""
        with _map_errors("looking up networking.istio.io DestinationRule"):
            found = self._dyn.resources.search(group="networking.istio.io", kind="DestinationRule")
        if not found:
            raise BackendUnavailable(
                f"context {self.context_name!r} does not serve networking.istio.io (Istio is not installed); "
                f"install it with `istioctl install --set profile=minimal -y --context {self.context_name}` "
                f"({INSTALL_HINTS['istioctl']})")

    def _load_images(self, say: ProgressCallback) -> None:
        root = repo_root()
        images = []
        for version in ("v1", "v2"):
            say(3, 5, f"docker build {plan.service_go_image(version)}")
            with _map_errors(f"building {plan.service_go_image(version)}"):
                run_cli(plan.docker_build_command(version, root), timeout=self.timeouts["image"],
                        on_line=lambda line: say(3, 5, line))
            images.append(plan.service_go_image(version))
        try:
            with _map_errors(f"docker pull {plan.FORTIO_IMAGE}"):
                run_cli(["docker", "pull", plan.FORTIO_IMAGE], timeout=self.timeouts["image"])
            images.append(plan.FORTIO_IMAGE)
        except Exception as exc:  # the node can still pull it itself when it has a route to the registry
            say(3, 5, f"could not pull {plan.FORTIO_IMAGE} on the host ({exc}); the node will pull it")
        for image in images:
            say(3, 5, f"kind load docker-image {image}")
            with _map_errors(f"kind load docker-image {image}"):
                run_cli(plan.kind_load_command(image, self.name), timeout=self.timeouts["image"])

    def _label_namespace(self, say: ProgressCallback) -> None:
        req = plan.injection_label_request(self.namespace)
        say(0, 0, f"labelling namespace {self.namespace} istio-injection=enabled")
        self._send_apply(req)

    # -- requests --------------------------------------------------------------------------------------------
    def _resource(self, api_version: str, kind: str) -> Any:
        with _map_errors(f"looking up {api_version} {kind}"):
            return self._dyn.resources.get(api_version=api_version, kind=kind)

    def _preferred(self, group: str, kind: str) -> Any | None:
        """The preferred version of (group, kind), or None when the server does not serve it."""
        from kubernetes.dynamic.resource import ResourceList

        with _map_errors(f"looking up {group or 'core'} {kind}"):
            found = self._dyn.resources.search(prefix="apis" if group else "api", group=group or None,
                                               kind=kind)
        found = [r for r in found if not isinstance(r, ResourceList) and r.group == group]
        found.sort(key=lambda r: not r.preferred)
        return found[0] if found else None

    def _send_apply(self, req: plan.ApplyRequest, *, dry_run: bool = False) -> Any:
        resource = self._resource(req.api_version, req.kind)
        with _map_errors(f"{'dry-run ' if dry_run else ''}apply {req.ref}"):
            return self._dyn.server_side_apply(resource, body=req.body, name=req.name,
                                               namespace=req.namespace,
                                               field_manager=req.field_manager,
                                               force_conflicts=req.force_conflicts,
                                               dry_run="All" if dry_run else None)

    def _send_delete(self, req: plan.DeleteRequest) -> bool:
        """Delete one object; False when it was already gone."""
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(req.api_version, req.kind)
        with _map_errors(f"delete {req.ref}"):
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
        self._ensure()
        requests = plan.plan_apply(objects, lab=self.name, namespace=self.namespace)
        new_namespaces = {r.name for r in requests if r.kind == "Namespace"}
        for req in requests:
            if req.namespace not in new_namespaces and req.kind != "CustomResourceDefinition":
                self._send_apply(req, dry_run=True)
        assert self._ctx is not None
        self._state.record_applied(self._ctx.name, self.name, [(r.api_version, r.kind) for r in requests])
        for i, req in enumerate(requests):
            self._send_apply(req)
            say(i + 1, len(requests), f"{req.ref} serverside-applied")
        for obj in objects:  # the lab's view for cross-object validation of later files
            (one,) = plan.plan_apply([obj], lab=self.name, namespace=self.namespace)
            self._applied[(one.kind, one.namespace, one.name)] = obj
        self._wait_ready(requests, say)
        return [r.ref for r in requests]

    def _wait_ready(self, requests: list[plan.ApplyRequest], say: ProgressCallback) -> None:
        watched = [r for r in requests if r.kind in ("Deployment", "Pod")]
        if not watched:
            return

        def pending() -> list[str]:
            out = []
            for r in watched:
                with _map_errors(f"reading {r.ref}"):
                    obj = self._dyn.get(self._resource(r.api_version, r.kind), name=r.name,
                                        namespace=r.namespace).to_dict()
                if not plan.is_ready(obj):
                    out.append(r.ref)
            return out

        def ready() -> bool:
            waiting = pending()
            say(len(watched) - len(waiting), len(watched),
                "ready" if not waiting else "waiting for " + ", ".join(waiting))
            return not waiting

        self._wait(ready, "applied workloads ready", self.timeouts["ready"], say)

    def _wait(self, condition: Callable[[], bool], what: str, timeout: float, say: ProgressCallback) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                with _map_errors(what):
                    raise TimeoutError(f"not {what} after {timeout:g} s")
            time.sleep(2.0)

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
        from kubernetes import client

        with _map_errors("listing fortio pods"):
            pods = client.CoreV1Api(self._api).list_namespaced_pod(self.namespace,
                                                                   label_selector="app=fortio")
        items = self._api.sanitize_for_serialization(pods).get("items", [])
        pod = plan.pick_pod(items, app="fortio", container=plan.FORTIO_CONTAINER)
        if pod is None:
            raise FortioError(f"no running fortio pod (label app=fortio) in namespace {self.namespace}; "
                              f"apply manifests/kubernetes/fortio.yaml first")
        return pod

    def _exec(self, req: plan.ExecRequest, *, timeout: float,
              on_stderr: Callable[[str], None] | None = None) -> ExecResult:
        from kubernetes import client

        with _map_errors(f"`{req.kubectl()}`"):
            return run_exec(client.CoreV1Api(self._exec_api), req, timeout=timeout, on_stderr=on_stderr)

    def fortio(self, args: str | list[str], *, progress: ProgressCallback | None = None) -> Any:
        """``kubectl exec fortio -c fortio -- /usr/bin/fortio load … -json -``; returns the parsed
        ``lablib.fortio`` result (stdout is the JSON, stderr fortio's log). ``-curl`` returns the response
        text."""
        say = progress or self._progress
        command = plan.fortio_command(args)
        self._ensure()
        pod = self._fortio_pod()
        req = plan.ExecRequest(pod, self.namespace, plan.FORTIO_CONTAINER, command)
        say(0, 0, req.kubectl())
        result = self._exec(req, timeout=self.timeouts["exec"],
                            on_stderr=lambda chunk: [say(0, 0, line) for line in chunk.splitlines() if line])
        return fortio_output(command, result)

    def _admin(self, method: str, path: str) -> str:
        self._ensure()
        req = plan.ExecRequest(self._fortio_pod(), self.namespace, plan.SIDECAR_CONTAINER,
                               plan.admin_command(method, path))
        result = self._exec(req, timeout=self.timeouts["admin"])
        if result.returncode != 0:
            with _map_errors(req.kubectl()):
                raise OSError(f"exited with status {result.returncode}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def stats(self, cluster: str | None = None) -> ClusterStats | dict[str, ClusterStats]:
        """The fortio sidecar's Envoy stats (``pilot-agent request GET stats``) for one cluster, or for every
        ``outbound|`` cluster. Needs the fortio pod's ``proxyStatsMatcher`` annotation (see fortio.yaml)."""
        from lablib.envoy.admin import cluster_names, cluster_stats, parse_stats

        flat = parse_stats(self._admin("GET", "stats"))
        if cluster is not None:
            return cluster_stats(flat, cluster)
        return {name: cluster_stats(flat, name) for name in cluster_names(flat)}

    def reset_counters(self) -> None:
        """``pilot-agent request POST reset_counters`` in the fortio pod's ``istio-proxy``."""
        self._admin("POST", "reset_counters")

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Host health as the fortio sidecar sees it (``pilot-agent request GET clusters``)."""
        from lablib.envoy.admin import parse_clusters

        hosts = parse_clusters(self._admin("GET", "clusters"))
        return [h for h in hosts if cluster is None or h.cluster == cluster]

    def proxy_config(self, what: str = "cluster") -> str:
        """``istioctl proxy-config cluster fortio.<ns> -o yaml`` when istioctl is on PATH, else the clusters
        of the
        sidecar's ``config_dump`` as YAML."""
        self._ensure()
        pod = self._fortio_pod()
        if shutil.which("istioctl"):
            argv = plan.istioctl_proxy_config_command(what, pod, self.namespace, self.kubeconfig,
                                                      self.context_name)
            with _map_errors(" ".join(argv)):
                return run_cli(argv, timeout=self.timeouts["admin"]).stdout
        import json

        import yaml

        dump = json.loads(self._admin("GET", "config_dump?resource=dynamic_active_clusters"))
        clusters = [c.get("cluster", c) for c in dump.get("configs", [])]
        return yaml.safe_dump(clusters, sort_keys=False)

    def cleanup(self, delete_cluster: bool = False) -> None:
        """Delete every object labelled ``lablib.io/lab=<name>`` (tolerating ones already gone). With
        ``delete_cluster=True`` also delete the kind cluster, only if the state file says the lab created it.
        Never creates a cluster; idempotent."""
        say = self._progress
        if self.own_cluster and not self._started:
            if not shutil.which("kind") or self.name not in self._kind_clusters():
                say(0, 0, f"no kind cluster {self.name!r}: nothing to clean up")
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
            f"deleted {len(deleted)} object(s) labelled {plan.cleanup_selector(self.name)}")
        self._applied.clear()
        self._state.forget_applied(self._ctx.name, self.name)
        if delete_cluster:
            self._delete_cluster(say)

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
            with _map_errors(f"listing {kind} -l {selector}"):
                listed = self._dyn.get(resource, label_selector=selector).to_dict()
            items = [{"apiVersion": resource.group_version, "kind": kind, **item}
                     for item in listed.get("items", [])]
            requests += plan.select_for_cleanup(items, lab=self.name)
        return [r.ref for r in requests if self._send_delete(r)]

    def _delete_cluster(self, say: ProgressCallback) -> None:
        record = self._state.created(self.name)
        if not self.own_cluster or record is None:
            raise ClusterSafetyError(
                f"not deleting cluster {self.context_name!r}: the lab did not create it (no record in "
                f"{self._state.path}). Its objects labelled {plan.cleanup_selector(self.name)} were deleted; "
                f"delete the cluster yourself if you mean to.")
        self.close()
        say(0, 1, f"kind delete cluster --name {self.name}")
        with _map_errors(f"kind delete cluster --name {self.name}"):
            run_cli(plan.kind_delete_command(self.name, self._state.kubeconfig),
                    timeout=self.timeouts["create"])
        self._state.forget(self.name)
        say(1, 1, f"deleted kind cluster {self.name!r}")

    def close(self) -> None:
        """Release the API connections. The cluster and what was applied stay (``cleanup`` removes them)."""
        for api in (self._api, self._exec_api):
            if api is not None:
                api.close()
        self._api = self._exec_api = self._dyn = None
        self._ctx = None
        self._started = False
