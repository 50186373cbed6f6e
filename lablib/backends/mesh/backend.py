"""``MeshBackend``: the lab on real Envoy sidecars and service-go processes on 127.0.0.1 (design: package
doc)."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import site
import socket
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from lablib._exceptions import (
    BackendError,
    EnvoyError,
    LabError,
    LabNotRunning,
    ManifestError,
    ParameterError,
)
from lablib._types import PathLike
from lablib.backends import config_view, kept_workers
from lablib.backends.base import BackendBase, ClusterStats, HostStatus, ProgressCallback
from lablib.backends.mesh import _blame, _health, _mtls, _plan, _service_go
from lablib.backends.mesh._procs import (
    ProcRecord,
    die_with_parent,
    record_of,
    spawn,
    stop_all,
)
from lablib.backends.mesh._state import LabState, PodState, StateDir
from lablib.backends.mesh._timing import span
from lablib.backends.run_log import RunLog
from lablib.envoy import bootstrap, xds
from lablib.envoy.access_log import ResponseRecord, parse_access_log
from lablib.envoy.admin import AdminClient, split_by_cluster
from lablib.envoy.explain import RunExplanation, counter_deltas, explain_run
from lablib.envoy.process import admin_socket_name, start_envoy, wait_ready
from lablib.i18n import Joined, Msg
from lablib.lab_defaults import PACKAGE_DIR, SERVICE_TIME_MS, WORKERS
from lablib.mtls import LabCA

__all__ = ["DEFAULT_SERVICE_TIME_MS", "DEFAULT_WORKERS", "MeshBackend", "Run"]

#: The lab's defaults (``lablib.lab_defaults``): the sidecars' worker threads unless a pod's
#: ``proxy.istio.io/config`` sets ``concurrency``, and service-go's time per call.
DEFAULT_WORKERS = WORKERS
DEFAULT_SERVICE_TIME_MS = SERVICE_TIME_MS
_CLIENT = _plan.CLIENT
#: How many times ports are picked again when one was taken between picking and binding.
_PORT_ATTEMPTS = 3


@dataclass
class Run:
    """One ``fortio`` run through the client sidecar, with what is needed to explain it afterwards."""

    start: float
    end: float
    requests: int
    client_before: dict[str, ClusterStats]
    client_after: dict[str, ClusterStats]
    server_before: dict[str, dict[str, ClusterStats]]
    server_after: dict[str, dict[str, ClusterStats]]
    #: size of the access log when the run started: its records are after this offset.
    log_offset: int = 0
    #: the client pod's sidecar the run went through (``_CLIENT``: the fortio pod) and its access log.
    client: str = _plan.CLIENT
    access_log: Path | None = None


def _free_ports() -> Iterator[int]:
    """Free ports on 127.0.0.1, each one once (the plan takes as many as it needs)."""
    given: set[int] = set()
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in given:
            given.add(port)
            yield port


def _sidecar_name(key: str) -> Msg:
    """A sidecar in the lab's words."""
    return Msg("mesh.sidecar.client") if key == _CLIENT else Msg("mesh.sidecar.pod", pod=key)


def _child_env() -> dict[str, str]:
    """The environment of service-go's processes: they run in the lab's logs folder, yet must import this
    lablib. A checkout's root goes first on PYTHONPATH; an installed lablib's folder is already on the
    interpreter's own path (on PYTHONPATH, site-packages would come before the standard library)."""
    env = dict(os.environ)
    root = PACKAGE_DIR.parent
    installed = {Path(p).resolve() for p in (*site.getsitepackages(), site.getusersitepackages())}
    if root not in installed:
        env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class MeshBackend(BackendBase):
    """The embedded mesh: a client (fortio) sidecar, and per pod a service-go process behind its inbound
    sidecar.

    Args:
        name: the lab's name (one state dir per name under ``$LABLIB_HOME``).
        workers: Envoy worker threads per sidecar (``--concurrency``); Istio gives 2 to a sidecar with its
            default 2-CPU limit (concurrency unset: the CPU limit, rounded up).
        service_time_ms: how long service-go spends on each ``GET /env``.
        persist: start a lab that outlives this process (until ``cleanup``), as the CLI does.
        attach_only: only attach to a running lab; raise ``LabNotRunning`` if there is none.
        home: the state root, default ``$LABLIB_HOME`` or ``~/.cache/lablib``.
        progress: called with (done, total, message) while starting, and with what the lab does on its own
            (a dead pod recreated by ``apply``; also kept in ``events``).
        track_remaining: make Envoy emit the ``circuit_breakers.*.remaining_*`` gauges (Istio 1.10-1.28 did;
            1.29+ does not).
        mtls: Istio's auto mTLS between sidecars (on by default, as in Istio): a lab CA made at start, a
            SPIFFE identity per pod; a DestinationRule's ``tls.mode: DISABLE`` turns it off per destination.
        reuse_port: the client sidecar's listeners get Envoy's default ``reuse_port`` (the kernel spreads
            fortio's connections over the workers); False shares one accept socket as Envoy < 1.20 did.

    Options of an attached lab are those it was started with.
    """

    name = "embedded"

    def __init__(self, name: str = "default", *, workers: int = DEFAULT_WORKERS,
                 service_time_ms: float = DEFAULT_SERVICE_TIME_MS, persist: bool = False,
                 attach_only: bool = False, home: PathLike | None = None,
                 progress: ProgressCallback | None = None, track_remaining: bool = False,
                 mtls: bool = True, reuse_port: bool = True) -> None:
        if workers < 1:
            raise ParameterError(Msg("mesh.workers", workers=workers))
        self.lab_name = name
        self.dir = StateDir(name, Path(home) if home is not None else None)
        self.owned = False
        self.closed = False
        self._runs: RunLog[Run] = RunLog()
        #: our own children by pid: how they ended (exit code or signal) and reaping them.
        self._popens: dict[int, Any] = {}
        self._progress = progress
        #: the lab's CA, once made or read (reading its RSA key back takes about 0.1 s: not once per apply).
        self._ca: LabCA | None = None
        #: what the lab did on its own (e.g. recreated a dead pod), oldest first (``Msg``s: English as str).
        self.events: list[str] = []
        if attach_only and not self.dir.root.exists():
            raise LabNotRunning(Msg("mesh.not_running.none", name=name, root=str(self.dir.root)))
        with self.dir.locked():
            state = self.dir.read()
            if state is not None and self._usable(state):
                self.attached = True
            else:
                if state is not None or self.dir.root.exists():
                    self.dir.reap()  # what a dead owner left behind
                if attach_only:
                    self.dir.lock_file.unlink(missing_ok=True)
                    raise LabNotRunning(Msg("mesh.not_running.stale", name=name, root=str(self.dir.root)))
                self.attached = False
                self.owned = not persist
                with span("mesh.start"):
                    self._start(workers, service_time_ms, progress, track_remaining, mtls, reuse_port)
        if self.owned:
            atexit.register(self.close)

    # ----------------------------------------------------------------- lifecycle
    @staticmethod
    def _usable(state: LabState) -> bool:
        if not state.client_procs or not all(p.alive() for p in state.client_procs):
            return False
        return state.persistent or (state.owner is not None and state.owner.alive())

    def _start(self, workers: int, service_time_ms: float, progress: ProgressCallback | None,
               track_remaining: bool, mtls: bool = True, reuse_port: bool = True) -> None:
        me = psutil.Process()
        owner = ProcRecord(pid=me.pid, started=me.create_time(), role="owner") if self.owned else None
        self.dir.create()
        state = LabState(name=self.lab_name, owner=owner, workers=workers, service_time_ms=service_time_ms,
                         track_remaining=track_remaining, mtls=mtls, reuse_port=reuse_port)
        if progress:
            progress(0, 2, Msg("mesh.progress.starting_client"))
        files = _plan.client_files(self.dir.config)
        for kind, type_url in (("cds", bootstrap.CLUSTER_TYPE), ("rds", bootstrap.ROUTE_TYPE),
                               ("lds", bootstrap.LISTENER_TYPE)):
            bootstrap.write_atomic(files[kind], bootstrap.discovery_response([], type_url, "0"))
        bootstrap.write_atomic(files["bootstrap"], bootstrap.bootstrap(
            "sidecar~127.0.0.1~fortio.default~default.svc.cluster.local", cds_path=files["cds"],
            lds_path=files["lds"], admin_socket=admin_socket_name(_CLIENT)))
        try:
            launch = start_envoy(files["bootstrap"], workdir=self.dir.logs, name=_CLIENT,
                                 workers=workers, launcher=die_with_parent() if self.owned else ())
            self._popens[launch.pid] = launch.popen
            state.client_procs = [record_of(launch.popen, _CLIENT)]
            self.dir.write(state)
            # The CA and the client's certificate (two RSA keys) are made while its Envoy boots: it boots on
            # empty CDS/LDS, and its first cluster asks for the certificate at the first apply.
            if mtls:
                self._ca = _mtls.create_ca(self.dir.root)
                _mtls.issue_secrets(self._ca, self.dir.config, _CLIENT,
                                    namespace="default", service_account="default")
            wait_ready(launch, name=_sidecar_name(_CLIENT))
        except BaseException:
            self.dir.reap()
            raise
        self.dir.write(state)
        if progress:
            progress(2, 2, Msg("mesh.progress.lab_ready"))

    def _state(self) -> LabState:
        if self.closed:
            raise LabNotRunning(Msg("mesh.not_running.cleaned_up", name=self.lab_name))
        state = self.dir.read()
        if state is None:
            raise LabNotRunning(Msg("mesh.not_running.gone", name=self.lab_name))
        return state

    def cleanup(self) -> None:
        """Stop every process of the lab and remove its files (state, config, logs). Idempotent."""
        with span("mesh.cleanup"), self.dir.locked():
            self.dir.reap()  # works on a damaged state too
            for p in self._popens.values():  # reap our children
                with contextlib.suppress(Exception):
                    p.wait(timeout=1)
            with contextlib.suppress(OSError):
                self.dir.lock_file.unlink()
        self.closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def close(self) -> None:
        """Stop the lab if this handle owns it (a notebook's lab); leave a persistent or attached lab
        running."""
        if self.closed:
            return
        if self.owned:
            self.cleanup()
        self.closed = True

    @property
    def last_run(self) -> Run | None:
        """The last ``fortio()`` run (what ``explain()`` explains by default)."""
        return self._runs.last

    def __repr__(self) -> str:
        how = "owned" if self.owned else ("attached" if self.attached else "persistent")
        return f"<MeshBackend {self.lab_name!r} {how}{' closed' if self.closed else ''} at {self.dir.root}>"

    # ----------------------------------------------------------------- health
    def _broken_pods(self, state: LabState) -> dict[str, tuple[Msg, Path]]:
        return _health.broken_pods(state, self.dir.logs, self._popens,
                                   client_log=self.dir.logs / f"{_CLIENT}.log")

    def _healthy_state(self) -> LabState:
        """The state, once every process of the lab is known to run (else a LabError naming what died)."""
        state = self._state()
        _health.raise_if_broken(state, self._broken_pods(state))
        return state

    def _say(self, progress: ProgressCallback | None, message: Msg) -> None:
        self.events.append(message)
        if progress or self._progress:
            (progress or self._progress)(0, 0, message)  # type: ignore[misc]

    # ----------------------------------------------------------------- apply / delete
    def apply(self, path: PathLike, *, progress: ProgressCallback | None = None) -> list[str]:
        """Validate ``path`` against what is applied, then make the mesh match (pods, every sidecar's config).

        All or nothing: either every sidecar runs the new config (confirmed from each live Envoy) and the
        state records it, or every sidecar is back on the previous config and ``EnvoyError`` names who
        rejected what, at its ``FILE:LINE``. Pods found dead are recreated (reported through ``progress``
        and ``events``).
        """
        from lablib.manifests import load_file
        from lablib.manifests.objects import as_manifest

        with span("mesh.apply", file=Path(path).name), self.dir.locked():
            state = self._state()
            current = [as_manifest(o["body"], file=o.get("file", "<applied>")) for o in state.objects]
            new = load_file(path, context=current)
            objects = list(state.objects)
            for m in new:
                entry = {"body": m.body, "file": str(m.source.file), "line": m.source.line}
                key = (m.kind, m.namespace, m.name)
                idx = next((i for i, o in enumerate(objects) if _key(o["body"]) == key), None)
                if idx is None:
                    objects.append(entry)
                else:
                    objects[idx] = entry
            self._sync(state, objects, progress, manifests=new)
            return [f"{m.kind}/{m.name}" for m in new]

    def delete(self, path: PathLike) -> list[str]:
        """Delete the objects of ``path`` that are applied (others are ignored); stop pods that go with
        them. Pods found dead that stay are recreated, as ``apply`` does."""
        from lablib.manifests import load_file

        with span("mesh.delete", file=Path(path).name), self.dir.locked():
            state = self._state()
            # Like kubectl delete: the file must parse, but what its objects refer to does not matter.
            gone = {(m.kind, m.namespace, m.name) for m in load_file(path, cross_checks=False)}
            objects = [o for o in state.objects if _key(o["body"]) not in gone]
            deleted = [f"{o['body']['kind']}/{o['body']['metadata']['name']}"
                       for o in state.objects if _key(o["body"]) in gone]
            self._sync(state, objects, None)
            return deleted

    def applied(self) -> list[str]:
        """``Kind/name`` of every applied object, in apply order."""
        return [f"{o['body']['kind']}/{o['body']['metadata']['name']}" for o in self._state().objects]

    def pods(self) -> dict[str, PodState]:
        """The running service pods by name."""
        return self._state().pods

    def _sync(self, state: LabState, objects: list[dict[str, Any]], progress: ProgressCallback | None, *,
              manifests: Sequence[Any] = ()) -> None:
        """Make processes and every sidecar's config match ``objects``; save the state only if all of it ran.

        The plan (``_plan``) is computed first; then replaced or dead pods stop, new pods start on their new
        config, and every running sidecar is pushed and confirmed (``xds.push_all``, which rolls them all back
        on any rejection). Removed pods stop last, once no sidecar routes to them.
        """
        broken = self._broken_pods(state)
        version = state.config_version + 1
        previous = self._desired(state)
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            try:
                plan = _plan.plan_sync([o["body"] for o in objects], state.pods, state.client_listeners,
                                       _free_ports(), config=self.dir.config, access_log=self.access_log_path,
                                       track_remaining=state.track_remaining, dead=broken, mtls=state.mtls,
                                       reuse_port=state.reuse_port)
            except ManifestError as exc:  # translate saw plain bodies: give the error its FILE:LINE
                raise _blame.positioned(exc, manifests) from None
            if attempt == 1:
                for name, (why, _log) in broken.items():
                    self._say(progress, Msg("mesh.events.recreating", pod=name, why=why)
                              if name in plan.pods.start else Msg("mesh.events.deleted", pod=name, why=why))
            # Replaced and dead pods go first (their names and files are reused).
            with span("mesh.stop", pods=[p.name for p in plan.pods.replaced]):
                stop_all([r for p in plan.pods.replaced for r in p.procs])
            started = list(plan.pods.start.values())
            try:
                with span("mesh.start_pods", pods=[p.name for p in started]):
                    self._start_pods(state, started, plan.sidecars, version, progress)
                running = [self._sidecar_config(s) for s in plan.sidecars if s.sidecar not in plan.pods.start]
                with span("mesh.push", sidecars=len(running)):
                    xds.push_all(running, [self._sidecar_config(s) for s in previous
                                           if s.sidecar not in plan.pods.start],
                                 version=str(version), old_version=str(state.config_version))
                with span("mesh.listen"):
                    for port in [*plan.client_listeners.values(),  # accepted is not yet bound: wait for it
                                 *(p for pod in plan.pods.pods.values() for p in pod.listeners.values())]:
                        _wait_listening(port, what=Msg("mesh.wait.client_listener"))
                break
            except BaseException as exc:
                stop_all([r for p in started for r in p.procs])
                # A port we picked was taken before our process bound it (the OS hands the same range to
                # outgoing connections): pick again. Anything else is the user's to see.
                text = str(exc) + getattr(exc, "envoy_output", "")
                if attempt < _PORT_ATTEMPTS and "Address already in use" in text:
                    continue
                back = [p for p in plan.pods.replaced if p.name not in broken]
                self._restore(back, state, previous, progress)
                if isinstance(exc, xds.XdsRejected):
                    raise self._rejection(exc, objects, manifests, plan, state) from None
                raise
        removed = [p for p in plan.pods.stop if p.name not in plan.pods.start]
        with span("mesh.stop", pods=[p.name for p in removed]):
            stop_all([r for p in removed for r in p.procs])
        for p in removed:
            for f in self.dir.config.glob(f"pod-{p.name}-*"):
                f.unlink(missing_ok=True)
            shutil.rmtree(_mtls.secrets_dir(self.dir.config, p.name), ignore_errors=True)
        state.pods = plan.pods.pods
        state.objects = objects
        state.config_version = version
        state.client_listeners = plan.client_listeners
        self.dir.write(state)
        kept_workers.warn(plan.pods.kept_workers, manifests)

    def _restore(self, pods: list[PodState], state: LabState, previous: list[_plan.SidecarFiles],
                 progress: ProgressCallback | None) -> None:
        """After a failed apply, start again the pods it had replaced, on their old ports and config (the
        sidecars that route to them were put back on that config), and record their new processes."""
        if not pods:
            return
        try:
            self._start_pods(state, pods, previous, state.config_version, progress)
        except LabError as exc:
            self._say(progress, Msg("mesh.events.restart_failed", pods=[p.name for p in pods], error=exc))
        self.dir.write(state)

    def _desired(self, state: LabState) -> list[_plan.SidecarFiles]:
        """What every sidecar runs now, by the state: what a failed push puts back."""
        mesh = _plan.mesh_config([o["body"] for o in state.objects], state.pods, config=self.dir.config,
                                 track_remaining=state.track_remaining, mtls=state.mtls)
        return _plan.desired(mesh, state.pods, state.client_listeners, config=self.dir.config,
                             access_log=self.access_log_path, mtls=state.mtls,
                             reuse_port=state.reuse_port)

    def _sidecar_config(self, files: _plan.SidecarFiles) -> xds.SidecarConfig:
        key = files.sidecar
        log = self.dir.logs / (f"{_CLIENT}.log" if key == _CLIENT else f"{key}-sidecar.log")
        return xds.SidecarConfig(sidecar=_sidecar_name(key), admin=self._admin(key), log_path=log,
                                 files=[xds.XdsFile(t, path, list(res)) for t, path, res in files.files])

    def _rejection(self, exc: xds.XdsRejected, objects: list[dict[str, Any]], manifests: Sequence[Any],
                   plan: _plan.SyncPlan, state: LabState) -> EnvoyError:
        """The rejection in the manifest's terms: ``FILE:LINE: Kind/name: field`` of what made the
        resource."""
        from lablib.manifests.objects import Source, as_manifest

        fresh = {(m.kind, m.namespace, m.name): m for m in manifests}
        known = [fresh.get(_key(o["body"])) or dataclasses.replace(
            as_manifest(o["body"]), source=Source(str(o.get("file", "<applied>")), int(o.get("line") or 0)))
            for o in objects]
        key = next((s.sidecar for s in plan.sidecars if _sidecar_name(s.sidecar) == exc.sidecar), _CLIENT)
        where = _blame.blame(exc.blamed, exc.xds_file.type_url, key, known, plan.pods.pods,
                             previous={_key(o["body"]): o["body"] for o in state.objects})
        kind = exc.xds_file.kind
        lines: list[Any] = [Msg("mesh.rejection.line", where=w, sidecar=exc.sidecar, what=kind.what)
                            for w in where] or [exc]
        if exc.rollback_problems:
            lines.append(xds.rollback_failed(exc.rollback_problems))
        else:
            lines.append(Msg("mesh.rejection.nothing_applied", version=state.config_version, short=kind.short,
                             rejected=exc.blamed[:5]))
        return EnvoyError(Joined(lines), envoy_output=exc.envoy_output)

    # ----------------------------------------------------------------- pods
    def _write_pod_config(self, pod: PodState, files: _plan.SidecarFiles, version: int) -> None:
        """A new pod's sidecar boots on its config files at ``version`` (then pushes work as for any pod)."""
        for type_url, path, resources in files.files:
            bootstrap.write_atomic(path, bootstrap.discovery_response(resources, type_url, str(version)))
        paths = _plan.pod_files(self.dir.config, pod.name)
        bootstrap.write_atomic(paths["bootstrap"], bootstrap.bootstrap(
            f"sidecar~127.0.0.1~{pod.name}.{pod.namespace}~{pod.namespace}.svc.cluster.local",
            cds_path=paths["cds"], lds_path=paths["lds"],
            admin_socket=admin_socket_name(f"{pod.name}-sidecar")))

    def _start_pods(self, state: LabState, pods: list[PodState], sidecars: list[_plan.SidecarFiles],
                    version: int, progress: ProgressCallback | None) -> None:
        """Start each pod's app and sidecar (all at once) on its config from ``sidecars``, then wait for all
        and confirm each sidecar runs that config at ``version``; record the processes as they start.

        The apps go first (a Python start is the slowest part of a pod) and every pod is waited for at the
        same time, so starting several pods takes about as long as starting one."""
        if not pods:
            return
        files = {s.sidecar: s for s in sidecars}
        owned = state.owner is not None and state.owner.pid == os.getpid()
        apps: dict[str, Any] = {}
        for pod in pods:
            pod.procs = []
            if not pod.client:  # a fortio pod is its sidecar only: its load runs in this process
                app = spawn(_service_go.app_command(pod, service_time_ms=state.service_time_ms),
                            log_path=_service_go.app_log(self.dir.logs, pod), cwd=self.dir.logs,
                            launcher=die_with_parent() if owned else (), env=_child_env())
                self._popens[app.pid] = app
                pod.procs.append(record_of(app, "app"))
                apps[pod.name] = app
        if state.mtls and self._ca is None:
            self._ca = _mtls.load_ca(self.dir.root)
        ca = self._ca if state.mtls else None

        def prepare(pod: PodState) -> None:
            if ca is not None:  # its identity, before its listener asks for it
                _mtls.issue_secrets(ca, self.dir.config, pod.name, namespace=pod.namespace,
                                    service_account=pod.service_account)
            self._write_pod_config(pod, files[pod.name], version)

        # A pod's identity costs an RSA key (50-200 ms; the key generation leaves the GIL, so pods get theirs
        # at once). Each sidecar starts from this thread as soon as its files are there: a launcher made on
        # another thread would tie the sidecar to that thread's life (``die_with_parent``).
        launches = []
        with ThreadPoolExecutor(max_workers=len(pods), thread_name_prefix="pod") as pool:
            prepared = [pool.submit(prepare, pod) for pod in pods]
            for i, (pod, files_written) in enumerate(zip(pods, prepared, strict=True)):
                if progress:
                    progress(i, len(pods), Msg("mesh.progress.starting_pod", pod=pod.name))
                files_written.result()
                boot = _plan.pod_files(self.dir.config, pod.name)["bootstrap"]
                launch = start_envoy(boot, workdir=self.dir.logs, name=f"{pod.name}-sidecar",
                                     workers=pod.workers or state.workers,
                                     launcher=die_with_parent() if owned else ())
                self._popens[launch.pid] = launch.popen
                pod.procs.append(record_of(launch.popen, "sidecar"))
                launches.append((pod, apps.get(pod.name), launch))

        def ready(pod: PodState, app: Any, launch: Any) -> None:
            wait_ready(launch, name=_sidecar_name(pod.name))
            if app is not None:
                _service_go.wait_app(app, pod, _service_go.app_log(self.dir.logs, pod))
            xds.check_booted(self._sidecar_config(files[pod.name]), str(version))

        with span("mesh.ready", pods=len(launches)), \
                ThreadPoolExecutor(max_workers=len(launches), thread_name_prefix="pod") as pool:
            waits = [pool.submit(ready, *launch) for launch in launches]
            errors = [w.exception() for w in waits]
        first = next((e for e in errors if e is not None), None)
        if first is not None:  # the first pod's, in the order they were started
            raise first
        if progress:
            progress(len(launches), len(launches), Msg("mesh.progress.pods_ready"))

    # ----------------------------------------------------------------- admin
    def _admin(self, sidecar: str) -> AdminClient:
        """The admin of ``sidecar`` (``_CLIENT`` or a pod name): its owner-only Unix socket."""
        name = sidecar if sidecar == _CLIENT else f"{sidecar}-sidecar"
        return AdminClient(socket_path=self.dir.logs / admin_socket_name(name), name=_sidecar_name(sidecar))

    def _client_admin(self, state: LabState | None = None) -> AdminClient:
        self._broken_pods(state or self._state())  # raises if the client sidecar is gone
        return self._admin(_CLIENT)

    @property
    def access_log_path(self) -> Path:
        """The client sidecar's JSON access log (one line per response fortio got)."""
        return self.dir.logs / "fortio-sidecar-access.log"

    # ----------------------------------------------------------------- load
    def listener_for(self, url: str, *, pod: str | None = None) -> tuple[str, int]:
        """Where a fortio pod's traffic to ``url`` goes: its client sidecar's listener for the URL's port
        (``pod``: a client pod the lab runs, e.g. ``fortio-2``; default the fortio pod)."""
        state = self._state()
        key = self._client_key(state, pod)
        listeners = state.client_listeners if key == _CLIENT else state.pods[key].listeners
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        port = str(parts.port or (443 if parts.scheme == "https" else 80))
        if port not in listeners:
            known = sorted(listeners) or Msg("mesh.pods.none")
            raise BackendError(Msg("mesh.listener.no_port", port=port, known=known))
        return "127.0.0.1", listeners[port]

    def _client_key(self, state: LabState, pod: str | None) -> str:
        """The sidecar of a client pod (``None``/"fortio": the fortio pod); LabError for a service pod."""
        key = self._sidecar_key(state, pod)
        if key != _CLIENT and not state.pods[key].client:
            clients = ["fortio", *(n for n, p in state.pods.items() if p.client)]
            raise LabError(Msg("mesh.pods.not_client", pod=pod, clients=clients))
        return key

    def access_log_of(self, pod: str | None = None) -> Path:
        """A client pod's sidecar access log (one JSON line per response its fortio got)."""
        key = self._client_key(self._state(), pod)
        return _plan.access_log_of(self.access_log_path, key)

    def fortio(self, args: str | Sequence[str], *, pod: str | None = None,
               progress: ProgressCallback | None = None) -> Any:
        """Run ``fortio load …`` from a fortio pod (``pod``, default the fortio pod), like ``kubectl exec
        POD -- fortio load …``: through that pod's client sidecar, Host header kept. Runs from different
        client pods may overlap in time (``Lab.fortio_many``)."""
        from lablib import fortio

        argv = shlex.split(args) if isinstance(args, str) else list(args)
        urls = [a for a in argv if "://" in a or (a and not a.startswith("-") and "/" in a)]
        if not urls:
            raise LabError(Msg("mesh.fortio.no_url", argv=repr(argv)))
        state = self._healthy_state()
        key = self._client_key(state, pod)
        connect_to = self.listener_for(urls[-1], pod=pod)
        log = _plan.access_log_of(self.access_log_path, key)
        (before_c, done0), before_s = self._client_snapshot(key), self._server_stats(state)
        offset = _size(log)
        with span("fortio", pod=pod or "fortio") as timing:
            start = time.time()
            result = fortio.load(argv, connect_to=connect_to, progress=progress)
            end = time.time()
            timing["actual_s"] = result.duration_s
        after_c, done1 = self._client_snapshot(key)
        self._runs.record(result, Run(start=start, end=end, requests=done1 - done0, client_before=before_c,
                                      client_after=after_c, server_before=before_s,
                                      server_after=self._server_stats(state), log_offset=offset, client=key,
                                      access_log=log))
        return result

    def _log_size(self) -> int:
        return _size(self.access_log_path)

    # ----------------------------------------------------------------- stats
    def _client_snapshot(self, key: str = _CLIENT) -> tuple[dict[str, ClusterStats], int]:
        """A client's outbound cluster stats and its listeners' completed requests, from one ``/stats``."""
        flat = self._admin(key).stats(
            r"^(cluster\.outbound\||http\.outbound_.*\.downstream_rq_completed$)", used_only=True)
        done = sum(v for k, v in flat.items() if k.endswith(".downstream_rq_completed"))
        return split_by_cluster(flat), done

    def _server_stats(self, state: LabState) -> dict[str, dict[str, ClusterStats]]:
        """Every pod sidecar's inbound cluster stats, one ``/stats`` read per sidecar."""
        return {name: split_by_cluster(self._admin(name).stats(r"^cluster\.inbound\|", used_only=True),
                                       prefix="inbound|")
                for name, pod in state.pods.items() if not pod.client}

    def stats(self, cluster: str | None = None, *, pod: str | None = None
              ) -> ClusterStats | dict[str, ClusterStats]:
        """Stats of one Envoy cluster (or all), from the fortio pod's sidecar (its ``outbound|`` clusters), or
        from ``pod``'s sidecar (its ``inbound|`` clusters); ``pod="fortio"`` names the client explicitly.

        One ``/stats`` read per call, parsed once, whatever the number of clusters. One cluster comes with
        every stat Envoy has for it; all clusters come with the stats Envoy touched (``usedonly``: the others
        are 0, ``.get`` gives 0), so that 1,000 subsets stay cheap. Raises LabError for a cluster the sidecar
        does not have, naming the ones it has.
        """
        state = self._healthy_state()
        key = self._sidecar_key(state, pod)
        admin = self._admin(key)
        side = "outbound|" if key == _CLIENT or state.pods[key].client else "inbound|"
        if cluster is not None:
            # Also matches longer names that start with this one (``a.b``): split_by_cluster parts them.
            found = split_by_cluster(admin.stats(rf"^cluster\.{re.escape(cluster)}\."), prefix="")
            if cluster in found:
                return found[cluster]
            names = split_by_cluster(admin.stats(r"^cluster\.", used_only=True), prefix=side)
            raise LabError(Msg("mesh.stats.no_cluster", cluster=cluster, sidecar=_sidecar_name(key),
                               names=list(names) or Msg("mesh.stats.no_clusters")))
        return split_by_cluster(admin.stats(rf"^cluster\.{re.escape(side)}", used_only=True), prefix=side)

    @staticmethod
    def _sidecar_key(state: LabState, pod: str | None) -> str:
        """``_CLIENT`` for the fortio pod (``None``, "fortio"), else a pod name the lab runs (service or
        client pod, e.g. ``fortio-2``)."""
        if pod is None or (pod in _plan.MAIN_CLIENT_PODS and pod not in state.pods):
            return _CLIENT
        if pod not in state.pods:
            raise LabError(Msg("mesh.pods.no_pod", pod=pod,
                               pods=list(state.pods) or Msg("mesh.pods.no_service_pods")))
        return pod

    def reset_counters(self) -> None:
        """Zero the counters of every sidecar (client and servers), like Envoy's ``POST /reset_counters``."""
        state = self._healthy_state()
        for key in (_CLIENT, *state.pods):
            self._admin(key).reset_counters()

    def hosts(self, cluster: str | None = None) -> list[HostStatus]:
        """Host health as the client sidecar sees it (``/clusters``), for one cluster or all outbound ones."""
        self._healthy_state()
        hosts = self._admin(_CLIENT).clusters()
        if cluster is not None:
            return [h for h in hosts if h.cluster == cluster]
        return [h for h in hosts if h.cluster.startswith("outbound|")]

    def proxy_config(self, what: str = "cluster", *, pod: str | None = None) -> str:
        """A sidecar's live config as YAML, like ``istioctl proxy-config cluster <pod> -o yaml``: the fortio
        pod's by default, or ``pod``'s (``service-go-v1-0``: its ``inbound|80||`` cluster and breaker).
        ``secret`` lists its mTLS certificates (identity, serial, validity) like ``proxy-config secret``."""
        resource, _ = config_view.config_dump_resource(what)
        state = self._healthy_state()
        return config_view.render(what, self._admin(self._sidecar_key(state, pod)).config_dump(resource))

    # ----------------------------------------------------------------- responses and faults
    def responses(self, since: float | None = None, *, wait_for: int = 0, timeout: float = 3.0,
                  offset: int = 0, pod: str | None = None) -> list[ResponseRecord]:
        """Responses the client sidecar sent (its access log), those started at/after ``since`` (epoch s).

        ``wait_for`` waits (up to ``timeout``) until that many records are there: Envoy flushes the log every
        100 ms. ``offset`` skips that many bytes of the log (a run's records start at its ``log_offset``).
        ``pod``: another client pod's sidecar (``fortio-2``).
        """
        self._healthy_state()
        path = self.access_log_of(pod)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    text = f.read().decode(errors="replace")
            except FileNotFoundError:
                text = ""
            records = parse_access_log(text.splitlines(), since=since)
            if len(records) >= wait_for or time.monotonic() > deadline:
                return records
            time.sleep(0.05)

    def explain(self, run: Any = None) -> RunExplanation:
        """Attribute every response of a ``fortio`` run to what produced it, next to the counters it moved.

        ``run`` is the ``FortioResult`` that ``fortio()`` returned (or its ``Run``); default the last run.
        """
        self._healthy_state()
        if not isinstance(run, Run):
            run = self._runs.find(run)
        pod = None if run.client == _CLIENT else run.client
        records = [r for r in self.responses(run.start - 0.001, wait_for=run.requests, offset=run.log_offset,
                                             pod=pod) if r.start_time <= run.end]
        server = {pod: counter_deltas(run.server_before.get(pod, {}), after)
                  for pod, after in run.server_after.items()}
        return explain_run(records, client_counters=counter_deltas(run.client_before, run.client_after),
                           server_counters={p: c for p, c in server.items() if c})

    def set_fault(self, target: str, *, code: int = 503, fraction: float = 1.0,
                  delay_ms: float = 0.0, seed: int | None = None) -> list[str]:
        """Make the app of pod ``target`` (or of every pod of Deployment ``target``) answer ``code`` for
        ``fraction`` of its calls (``seed``: each call at random) and take ``delay_ms`` longer on each;
        ``fraction=0, delay_ms=0`` heals it. Returns the pods changed."""
        return _service_go.set_fault(self._healthy_state().pods, self.dir.logs, target, code=code,
                                     fraction=fraction, delay_ms=delay_ms, seed=seed)

    def app_stats(self, *, reset: bool = False) -> dict[str, dict[str, Any]]:
        """Each pod's app counters: ``requests``, ``in_flight`` and ``max_in_flight`` (the concurrency the
        breakers let through to it). ``reset=True`` restarts them after reading."""
        return _service_go.app_stats(self._healthy_state().pods, self.dir.logs, reset=reset)

    @property
    def workers(self) -> int:
        """Envoy worker threads per sidecar in the running lab (an attached lab keeps its own setting)."""
        return self._state().workers

    @property
    def service_time_ms(self) -> float:
        """service-go's time per call in the running lab."""
        return self._state().service_time_ms

    def rss_bytes(self) -> int:
        """Resident memory of every process of the lab (all Envoys and apps), in bytes."""
        total = 0
        for r in self._state().all_procs():
            with contextlib.suppress(psutil.Error):
                if r.alive():
                    total += psutil.Process(r.pid).memory_info().rss
        return total

    def processes(self) -> list[ProcRecord]:
        """Every process the lab runs (client sidecar, apps, server sidecars)."""
        return self._state().all_procs()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _key(body: dict[str, Any]) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return (str(body.get("kind", "")), str(meta.get("namespace") or "default"), str(meta.get("name", "")))


def _wait_listening(port: int, *, what: Msg, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.01)
    raise BackendError(Msg("mesh.wait.not_listening", what=what, port=port, timeout=timeout))
