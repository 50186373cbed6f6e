"""``KindBackend``: the lab on a real kind cluster with Istio, through the ``kubernetes`` Python client.

Set-up (``start``, run lazily by the first call that needs the cluster; ``_cluster``): detect
docker/kind/istioctl, create or reuse the kind cluster ``<name>`` from ``manifests/kind/cluster.yaml``
(recorded as the lab's own in the state file), check the context is one the lab may touch (``_safety``),
``istioctl install`` when istiod is missing, build ``lablib/service-go:v1|v2`` from
``docker/service-go/Dockerfile`` and ``kind load`` them with fortio's image, and label the namespace for
sidecar injection. With ``context=`` naming an allowed existing cluster, only the context check, the Istio
check and the injection label run.

This module holds the verbs. Every request is planned by ``_plan`` (pure) and sent through ``_api.KubeApi``,
where client errors become lablib errors.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lablib._exceptions import BackendError, ClusterSafetyError, FortioError, LabError
from lablib.backends import config_view, kept_workers
from lablib.backends.base import BackendBase, ClusterStats, HostStatus, ProgressCallback
from lablib.backends.kind import _plan as plan
from lablib.backends.kind._api import MIN_KUBERNETES, KubeApi, wait_until
from lablib.backends.kind._cluster import (
    DEFAULT_TIMEOUTS,
    KindCluster,
    require_istio,
    start_own_cluster,
    warn_if_istio_is_not_the_pin,
)
from lablib.backends.kind._errors import _map_errors
from lablib.backends.kind._exec import ExecResult, fortio_output, run_cli
from lablib.backends.kind._safety import check_context, load_context
from lablib.backends.kind._state import State
from lablib.backends.run_log import RunLog
from lablib.i18n import Msg

if TYPE_CHECKING:
    from lablib._types import PathLike
    from lablib.envoy.access_log import ResponseRecord
    from lablib.envoy.explain import RunExplanation
    from lablib.fortio.result import FortioResult

__all__ = ["CONTEXT_ENV", "DEFAULT_TIMEOUTS", "MIN_KUBERNETES", "ClusterRun", "KindBackend"]

#: The context ``KindBackend(context=None)`` uses when set (an existing cluster, which must still be allowed):
#: how a notebook that only says ``Lab(backend="kind")`` is pointed at one.
CONTEXT_ENV = "LABLIB_CONTEXT"


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


class KindBackend(BackendBase):
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
        self._cluster = KindCluster(self.name, self._state, self.timeouts)
        self._kubeconfig = Path(kubeconfig) if kubeconfig is not None else None
        self._kube: KubeApi | None = None
        self._applied: dict[tuple[str, str | None, str], Any] = {}  # (kind, namespace, name) -> Manifest
        self._runs: RunLog[ClusterRun] = RunLog()
        self.server_version: tuple[int, int] | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"KindBackend(name={self.name!r}, context={self.context_name!r}, namespace={self.namespace!r})"

    @property
    def kubeconfig(self) -> Path | None:
        """The kubeconfig in use: the lab's own for its kind cluster, else the one given (None = default)."""
        return self._state.kubeconfig if self.own_cluster else self._kubeconfig

    @property
    def state(self) -> State:
        return self._state

    @property
    def last_run(self) -> ClusterRun | None:
        return self._runs.last

    # -- set-up ----------------------------------------------------------------------------------------------
    def start(self, progress: ProgressCallback | None = None) -> None:
        """Create or reuse the cluster, install Istio, load images, label the namespace. Idempotent."""
        if self._started:
            return
        say = progress or self._progress
        if self.own_cluster:
            start_own_cluster(self._cluster, lambda: self._connect(say, reused=True), say,
                              istio_profile=self.istio_profile, build_images=self.build_images)
        else:
            kube = self._kube or self._connect(say)  # cleanup() may have connected already
            require_istio(kube)
        warn_if_istio_is_not_the_pin(self._api(), say)
        self._label_namespace(say)
        self._started = True
        say(1, 1, Msg("kind.backend.ready", context=self.context_name, namespace=self.namespace))

    def _connect(self, say: ProgressCallback, *, reused: bool = False) -> KubeApi:
        """Load the context, refuse it unless the lab created it or it is allowed, then open the API."""
        with _map_errors(Msg("kind.backend.loading_context", context=self.context_name)):
            ctx, api = load_context(self.kubeconfig, self.context_name, temp_dir=self._state.directory)
        if reused and self.own_cluster and self._state.created(self.name) is not None:
            # The lab's own cluster, just created or found by `kind get clusters`; kind picks (and after a
            # restart may change) the API server's port, so the record follows it.
            self._state.update_server(self.name, ctx.server)
        try:
            check_context(ctx, state=self._state, allow=self.allow_contexts)
        except ClusterSafetyError as exc:
            api.close()
            if reused and self.own_cluster:  # kind lists the cluster, the state file does not
                raise ClusterSafetyError(Msg("kind.backend.unrecorded_cluster", name=self.name,
                                             path=self._state.path, context=ctx.name, error=exc)) from None
            raise
        self._kube = KubeApi.open(ctx, api, cache_root=self._state.directory)
        self.server_version = self._kube.server_version
        say(0, 0, Msg("kind.backend.connected", context=ctx.name, server=ctx.server))
        return self._kube

    def _api(self) -> KubeApi:
        assert self._kube is not None, "connect first"
        return self._kube

    def _label_namespace(self, say: ProgressCallback) -> None:
        kube = self._api()
        if kube.read("v1", "Namespace", self.namespace, None) is None:
            # Labelling creates it: record that first, so cleanup deletes it (injection label and all).
            self._state.record_namespace(kube.ctx.name, self.name, self.namespace)
            say(0, 0, Msg("kind.backend.creating_namespace", namespace=self.namespace))
        else:
            say(0, 0, Msg("kind.backend.labelling_namespace", namespace=self.namespace))
        kube.apply(plan.injection_label_request(self.namespace))

    def _ensure(self) -> KubeApi:
        if not self._started:
            self.start()
        return self._api()

    # -- apply / delete --------------------------------------------------------------------------------------
    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate, then server-side apply every object in ``path`` (labelled ``lablib.io/lab=<name>``) and
        wait for its Deployments and Pods to be ready. A server-side dry run of the whole file goes first, so
        an object the API server rejects means nothing was applied. Returns ``Kind/name`` of each object."""
        from lablib.manifests import load_file

        say = progress or self._progress
        objects = load_file(path, context=tuple(self._applied.values()))
        if self._started:  # another handle's cleanup may have deleted the lab's namespace since
            self._label_namespace(say)
        kube = self._ensure()
        requests = plan.plan_apply(objects, lab=self.name, namespace=self.namespace)
        new_namespaces = {r.name for r in requests if r.kind == "Namespace"}
        for req in requests:
            if req.namespace not in new_namespaces and req.kind != "CustomResourceDefinition":
                kube.apply(req, dry_run=True)
        self._state.record_applied(kube.ctx.name, self.name, [(r.api_version, r.kind) for r in requests])
        # The dry run cannot catch everything (a 1.20 server allocates a Service's clusterIP only for real):
        # keep what each object was, so a rejection part-way can put back what this apply changed.
        before = [kube.read(r.api_version, r.kind, r.name, r.namespace) for r in requests]
        done: list[int] = []
        try:
            for i, req in enumerate(requests):
                kube.apply(req)
                done.append(i)
                say(i + 1, len(requests), Msg("kind.backend.applied", ref=req.ref))
        except LabError as exc:
            raise self._roll_back([(requests[i], before[i]) for i in reversed(done)], exc) from exc
        for obj in objects:  # the lab's view for cross-object validation of later files
            (one,) = plan.plan_apply([obj], lab=self.name, namespace=self.namespace)
            self._applied[(one.kind, one.namespace, one.name)] = obj
        kept_workers.warn(plan.kept_workers(requests, before), objects)
        self._wait_ready(requests, say)
        return [r.ref for r in requests]

    def _roll_back(self, done: list[tuple[plan.ApplyRequest, dict[str, Any] | None]],
                   cause: LabError) -> BackendError:
        """Undo the applies in ``done`` (newest first): delete what they created, put back what they changed
        (the previous object, its field managers included). Returns the error to raise."""
        kube = self._api()
        restored: list[str] = []
        failed: list[Msg] = []
        for req, previous in done:
            try:
                if previous is None:
                    kube.delete(plan.DeleteRequest(req.api_version, req.kind, req.name, req.namespace))
                else:
                    kube.restore(req, previous)
                restored.append(req.ref)
            except LabError as exc:
                failed.append(Msg("kind.backend.rollback_item", ref=req.ref, error=exc))
        if failed:
            return BackendError(Msg("kind.backend.rollback_failed", cause=cause, failed=failed,
                                    restored=restored or Msg("kind.backend.nothing")))
        if restored:
            return BackendError(Msg("kind.backend.nothing_applied_rolled_back", cause=cause, refs=restored))
        return BackendError(Msg("kind.backend.nothing_applied", cause=cause))

    def _wait_ready(self, requests: list[plan.ApplyRequest], say: ProgressCallback) -> None:
        watched = [r for r in requests if r.kind in ("Deployment", "Pod")]
        if not watched:
            return
        kube = self._api()

        def ready() -> bool:
            waiting = [r.ref for r in watched if not plan.is_ready(kube.get(r))]
            said = Msg("kind.backend.waiting_for", refs=waiting) if waiting else Msg("kind.backend.all_ready")
            say(len(watched) - len(waiting), len(watched), said)
            return not waiting

        wait_until(ready, Msg("kind.backend.workloads_ready"), self.timeouts["ready"])

    def delete(self, path: PathLike) -> list[str]:
        """Delete every object in ``path`` that exists (like ``kubectl delete -f --ignore-not-found``)."""
        from lablib.manifests import load_file

        objects = load_file(path, cross_checks=False)  # deleting needs no cross-object checks
        kube = self._ensure()
        deleted = []
        for req in plan.plan_delete(objects, namespace=self.namespace):
            if kube.delete(req):
                deleted.append(req.ref)
            self._applied.pop((req.kind, req.namespace, req.name), None)
        return list(reversed(deleted))

    # -- pods and their sidecars -----------------------------------------------------------------------------
    def _fortio_pod(self) -> str:
        items = self._api().pods(self.namespace, selector="app=fortio")
        pod = plan.pick_pod(items, app="fortio", container=plan.FORTIO_CONTAINER)
        if pod is None:
            raise FortioError(Msg("kind.backend.no_fortio_pod", namespace=self.namespace))
        return pod

    def _pod(self, pod: str | None) -> str:
        """``pod`` itself (or the one pod of Deployment ``pod``); None = the fortio pod (the client)."""
        if pod is None:
            return self._fortio_pod()
        items = self._api().pods(self.namespace)
        found = plan.pods_of_target(items, pod)
        if pod in found:
            return pod
        if len(found) == 1:
            return found[0]
        names = sorted(i["metadata"]["name"] for i in items) or Msg("kind.none")
        raise LabError(Msg("kind.backend.no_pod", pod=pod, namespace=self.namespace, n=len(found),
                           pods=names))

    def _admin(self, method: str, path: str, *, pod: str | None = None) -> str:
        kube = self._ensure()
        req = plan.ExecRequest(self._pod(pod), self.namespace, plan.SIDECAR_CONTAINER,
                               plan.admin_command(method, path))
        result = kube.exec(req, timeout=self.timeouts["admin"])
        if result.returncode != 0:
            raise BackendError(Msg("kind.backend.admin_failed", command=req.kubectl(), code=result.returncode,
                                   stderr=result.stderr.strip()[-500:]))
        return result.stdout

    def _flat_stats(self, pod: str | None) -> dict[str, int]:
        from lablib.envoy.admin import parse_stats

        return parse_stats(self._admin("GET", "stats", pod=pod))

    def _outbound_stats_or_none(self, pod: str) -> dict[str, ClusterStats] | None:
        from lablib.envoy.admin import split_by_cluster

        with contextlib.suppress(LabError):
            return split_by_cluster(self._flat_stats(pod), prefix="outbound|")
        return None

    # -- load ------------------------------------------------------------------------------------------------
    def fortio(self, args: str | list[str], *, pod: str | None = None,
               progress: ProgressCallback | None = None) -> FortioResult:
        """``kubectl exec fortio -c fortio -- /usr/bin/fortio load … -json -`` (``pod``: exec into that
        client pod instead, e.g. ``fortio-2``); returns the parsed ``lablib.fortio`` result (stdout is the
        JSON, stderr fortio's log). A ``-curl`` run returns a one-call result with the response text in
        ``raw["curl"]``. The client sidecar's stats are read before and after, for ``explain()``."""
        say = progress or self._progress
        command = plan.fortio_command(args)
        kube = self._ensure()
        req = plan.ExecRequest(self._pod(pod), self.namespace, plan.FORTIO_CONTAINER, command)
        say(0, 0, req.kubectl())
        before = self._outbound_stats_or_none(req.pod)
        start = time.time()
        result: ExecResult = kube.exec(
            req, timeout=self.timeouts["exec"],
            on_stderr=lambda chunk: [say(0, 0, line) for line in chunk.splitlines() if line])
        end = time.time()
        parsed = fortio_output(command, result)
        after = self._outbound_stats_or_none(req.pod)
        self._runs.record(parsed, ClusterRun(parsed, start, end, before, after, req.pod))
        return parsed

    # -- the client sidecar's Envoy --------------------------------------------------------------------------
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
        else that sidecar's ``config_dump`` (clusters, routes, listeners or secrets) in the same view as the
        embedded mesh (``lablib.backends.config_view``)."""
        self._ensure()
        name = self._pod(pod)
        if shutil.which("istioctl"):
            argv = plan.istioctl_proxy_config_command(what, name, self.namespace, self.kubeconfig,
                                                      self.context_name)
            with _map_errors(" ".join(argv)):
                return run_cli(argv, timeout=self.timeouts["admin"]).stdout
        import json

        resource, _ = config_view.config_dump_resource(what)
        dump = json.loads(self._admin("GET", f"config_dump?resource={resource}", pod=pod))
        return config_view.render(what, dump.get("configs", []))

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
        from lablib.backends.kind._access_log import parse_istio_access_log

        deadline = time.monotonic() + timeout
        while True:
            since_s = None if since is None else max(1, int(time.time() - since) + 2)
            text = self._api().pod_log(pod, self.namespace, plan.SIDECAR_CONTAINER, since_seconds=since_s)
            records = parse_istio_access_log(text.splitlines(), since=since)
            if len(records) >= wait_for or time.monotonic() > deadline:
                return records
            time.sleep(0.25)

    def explain(self, run: FortioResult | None = None) -> RunExplanation:
        """Every response of a ``fortio()`` run (default: the last) by cause, from the fortio sidecar's access
        log, next to the client counters the run moved. Server sidecars' counters are not read here."""
        from lablib.envoy.explain import counter_deltas, explain_run

        found = self._runs.find(run)
        records = [r for r in self._access_log(found.pod, found.start - 1.0, found.result.count, 5.0)
                   if r.start_time <= found.end + 1.0]
        counters = (counter_deltas(found.before, found.after)
                    if found.before is not None and found.after is not None else None)
        return explain_run(records, client_counters=counters)

    def pod_names(self, target: str) -> list[str]:
        """The live pods ``target`` names (a pod, or every pod of Deployment ``target``), as ``stats(pod=…)``
        takes them."""
        return plan.pods_of_target(self._ensure().pods(self.namespace), target)

    def set_fault(self, target: str, *, code: int = 503, fraction: float = 1.0,
                  delay_ms: float = 0.0, seed: int | None = None) -> list[str]:
        """service-go's ``POST /fault`` in pod ``target`` (or every pod of Deployment ``target``), sent from
        inside its app container (the knob only listens to loopback). Returns the pods changed."""
        kube = self._ensure()
        items = kube.pods(self.namespace)
        names = plan.pods_of_target(items, target)
        if not names:
            known = sorted(i["metadata"]["name"] for i in items) or Msg("kind.none")
            raise LabError(Msg("kind.backend.no_target", target=target, namespace=self.namespace, pods=known))
        by_name = {i["metadata"]["name"]: i for i in items}
        for name in names:
            container = plan.app_container(by_name[name]) or "service-go"
            command = plan.fault_command(code, fraction, delay_ms, seed=seed)
            req = plan.ExecRequest(name, self.namespace, container, command)
            what = Msg("kind.backend.set_fault_what", pod=name, container=container)
            result = kube.exec(req, timeout=self.timeouts["admin"], what=what)
            if result.returncode != 0:
                raise BackendError(Msg("kind.backend.set_fault_failed", pod=name, command=req.kubectl(),
                                       code=result.returncode, stderr=result.stderr.strip()[-300:]))
        return names

    # -- clean-up --------------------------------------------------------------------------------------------
    def cleanup(self, delete_cluster: bool = False) -> None:
        """Delete every object labelled ``lablib.io/lab=<name>`` (tolerating ones already gone). With
        ``delete_cluster=True`` also delete the kind cluster, only if the state file says the lab created it.
        Never creates a cluster; idempotent."""
        say = self._progress
        if self.own_cluster and not self._started:
            if not self._cluster.exists():
                say(0, 0, Msg("kind.backend.nothing_to_clean", name=self.name))
                if delete_cluster:
                    self._state.forget(self.name)  # it is gone already
                return
            self._cluster.export_kubeconfig()
        kube = self._kube or self._connect(say, reused=self.own_cluster)
        deleted = self.delete_labelled()
        say(len(deleted), len(deleted),
            Msg("kind.backend.deleted_labelled", n=len(deleted), selector=plan.cleanup_selector(self.name)))
        self._applied.clear()
        self._state.forget_applied(kube.ctx.name, self.name)
        self._delete_created_namespaces(say)
        if delete_cluster:
            self._delete_cluster(say)

    def _delete_created_namespaces(self, say: ProgressCallback) -> None:
        """Delete the namespaces the lab created (recorded when it labelled them) and wait until they are
        gone, so a new lab can create them again at once."""
        kube = self._api()
        names = [n for n in self._state.created_namespaces(kube.ctx.name, self.name)
                 if n not in plan.PROTECTED_NAMESPACES]
        for ns in names:
            say(0, len(names), Msg("kind.backend.deleting_namespace", namespace=ns))
            kube.delete(plan.DeleteRequest("v1", "Namespace", ns, None))
        if names:
            wait_until(lambda: all(kube.read("v1", "Namespace", n, None) is None for n in names),
                       Msg("kind.backend.namespaces_deleted", names=names), self.timeouts["ready"],
                       period=0.5)
        self._state.forget_namespaces(kube.ctx.name, self.name)  # the next apply creates it again

    def delete_labelled(self) -> list[str]:
        """List every kind cleanup knows (defaults + what the state says was applied) by the lab's label,
        across namespaces, and delete the selection. Returns ``Kind/name`` of what was deleted."""
        kube = self._api()
        selector = plan.cleanup_selector(self.name)
        requests: list[plan.DeleteRequest] = []
        for group, kind in plan.cleanup_kinds(self._state.applied_kinds(kube.ctx.name, self.name)):
            resource = kube.preferred(group, kind)
            if resource is None:
                continue
            listed = kube.list(resource, selector)
            if listed is None:  # served when discovery ran, gone now (its CRD deleted): nothing to delete
                continue
            items = [{"apiVersion": resource.group_version, "kind": kind, **item}
                     for item in listed.get("items", [])]
            requests += plan.select_for_cleanup(items, lab=self.name)
        return [r.ref for r in requests if kube.delete(r)]

    def _delete_cluster(self, say: ProgressCallback) -> None:
        record = self._state.created(self.name)
        if not self.own_cluster or record is None:
            raise ClusterSafetyError(Msg("kind.backend.not_deleting_cluster", context=self.context_name,
                                         path=self._state.path, selector=plan.cleanup_selector(self.name)))
        self.close()
        self._cluster.delete(say)

    def close(self) -> None:
        """Release the API connections. The cluster and what was applied stay (``cleanup`` removes them)."""
        if self._kube is not None:
            self._kube.close()
        self._kube = None
        self._started = False
