"""The embedded lab's state on disk, so it outlives one Python process the way a kind cluster outlives a
kernel.

``$LABLIB_HOME`` (default ``~/.cache/lablib``) holds one directory per lab name::

    <home>/<name>.lock          flock held while the lab is changed (outside the dir, so removing it is safe)
    <home>/<name>/state.json    owner, options, processes (pid + start time), pods, ports, applied objects
    <home>/<name>/config/       bootstraps and xDS files the Envoys watch
    <home>/<name>/logs/         Envoy and service-go output, the client sidecar's access log

A lab belongs to its owner: its directories are 0700 and its own files 0600, so another local user can
neither read its state and logs nor reach anything (such as an admin socket) inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lablib._exceptions import BackendError
from lablib.backends.mesh._procs import ProcRecord, stop_all, strays
from lablib.i18n import Msg

__all__ = ["LabState", "PodState", "StateCorrupt", "StateDir", "lablib_home"]

_STATE_VERSION = 1


def lablib_home() -> Path:
    """``$LABLIB_HOME`` or ``~/.cache/lablib``."""
    return Path(os.environ.get("LABLIB_HOME") or Path.home() / ".cache" / "lablib")


@dataclass
class PodState:
    """One running pod: the app behind its inbound sidecar."""

    name: str
    namespace: str
    labels: dict[str, str]
    owner: str
    image: str
    container_port: int
    #: Where clients dial (the inbound sidecar's listener) and where the app listens behind it.
    port: int
    app_port: int
    admin_port: int = 0
    procs: list[ProcRecord] = field(default_factory=list)
    #: A client pod (it runs the fortio image): a sidecar with the outbound config and no app (``port`` and
    #: ``app_port`` are 0); ``listeners`` maps each service port to its outbound listener's local port.
    client: bool = False
    listeners: dict[str, int] = field(default_factory=dict)
    #: Envoy worker threads of this pod's sidecar (``proxy.istio.io/config`` concurrency); None: the lab's.
    workers: int | None = None
    #: the pod's ``serviceAccountName``: its mTLS identity.
    service_account: str = "default"
    #: its container's ``args`` (service-go's flags, e.g. ``--grpc``), appended to the app's command line.
    args: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "procs"}
        d["procs"] = [p.as_dict() for p in self.procs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PodState:
        d = dict(d)
        procs = [ProcRecord.from_dict(p) for p in d.pop("procs", [])]
        return cls(**d, procs=procs)


@dataclass
class LabState:
    """Everything needed to re-attach to a running lab."""

    name: str
    #: pid + start time of the Python process that owns the lab; None for a persistent lab (CLI,
    # persist=True).
    owner: ProcRecord | None
    workers: int
    service_time_ms: float
    #: Envoy ``track_remaining`` on every cluster (``remaining_*`` gauges); Istio >= 1.29 leaves it off.
    track_remaining: bool = False
    client_admin_port: int = 0
    #: service port (str) -> local port of the client sidecar's outbound listener for it.
    client_listeners: dict[str, int] = field(default_factory=dict)
    client_procs: list[ProcRecord] = field(default_factory=list)
    pods: dict[str, PodState] = field(default_factory=dict)
    #: applied objects as plain bodies, in apply order, with their source file.
    objects: list[dict[str, Any]] = field(default_factory=list)
    config_version: int = 0
    #: Istio's auto mTLS between sidecars (a lab CA in ``<root>/ca``, secrets per sidecar).
    mtls: bool = False
    #: the client sidecar's listeners use ``reuse_port`` (Envoy >= 1.20's default).
    reuse_port: bool = True

    @property
    def persistent(self) -> bool:
        return self.owner is None

    def all_procs(self) -> list[ProcRecord]:
        return [*self.client_procs, *(p for pod in self.pods.values() for p in pod.procs)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION, "name": self.name,
            "owner": self.owner.as_dict() if self.owner else None,
            "workers": self.workers, "service_time_ms": self.service_time_ms,
            "track_remaining": self.track_remaining,
            "client_admin_port": self.client_admin_port, "client_listeners": self.client_listeners,
            "client_procs": [p.as_dict() for p in self.client_procs],
            "pods": {n: p.as_dict() for n, p in self.pods.items()},
            "objects": self.objects, "config_version": self.config_version,
            "mtls": self.mtls, "reuse_port": self.reuse_port,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabState:
        return cls(
            name=d["name"], owner=ProcRecord.from_dict(d["owner"]) if d.get("owner") else None,
            workers=int(d["workers"]), service_time_ms=float(d["service_time_ms"]),
            track_remaining=bool(d.get("track_remaining", False)),
            client_admin_port=int(d.get("client_admin_port", 0)),
            client_listeners={str(k): int(v) for k, v in d.get("client_listeners", {}).items()},
            client_procs=[ProcRecord.from_dict(p) for p in d.get("client_procs", [])],
            pods={n: PodState.from_dict(p) for n, p in d.get("pods", {}).items()},
            objects=list(d.get("objects", [])), config_version=int(d.get("config_version", 0)),
            mtls=bool(d.get("mtls", False)), reuse_port=bool(d.get("reuse_port", True)),
        )


class StateCorrupt(BackendError):
    """The lab's ``state.json`` cannot be read: the lab does not guess, it says so and leaves it all as is."""


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)  # mkdir's mode is masked by umask, and an older lab may have made it 0755


class StateDir:
    """The directory of one named lab, its lock and its ``state.json``."""

    def __init__(self, name: str, home: Path | None = None) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad lab name {name!r}: use letters, digits, '-' or '_'")
        self.home = Path(home) if home is not None else lablib_home()
        self.name = name
        self.root = self.home / name
        self.config = self.root / "config"
        self.logs = self.root / "logs"
        self.state_file = self.root / "state.json"
        self.lock_file = self.home / f"{name}.lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the lab's lock (an exclusive flock; released even if this process dies)."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def exists(self) -> bool:
        return self.state_file.is_file()

    def read(self) -> LabState | None:
        """The saved state, or None when there is none. Raises ``StateCorrupt`` when it cannot be read."""
        try:
            text = self.state_file.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateCorrupt(Msg("mesh.state.unreadable", file=str(self.state_file), why=str(exc.strerror),
                                   fix=self._fix)) from exc
        try:
            return LabState.from_dict(json.loads(text))
        except ValueError as exc:
            what = Msg("mesh.state.not_json", error=str(exc))
        except (KeyError, TypeError, AttributeError) as exc:
            what = Msg("mesh.state.not_a_state", error=str(exc))
        raise StateCorrupt(Msg("mesh.state.damaged", file=str(self.state_file), what=what, fix=self._fix))

    @property
    def _fix(self) -> Msg:
        return Msg("mesh.state.fix", name=self.name, root=str(self.root))

    def write(self, state: LabState) -> None:
        tmp = self.state_file.with_name(f".state.json.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(state.as_dict(), indent=1))
        os.replace(tmp, self.state_file)

    def create(self) -> None:
        for d in (self.root, self.config, self.logs):
            _private_dir(d)

    def reap(self) -> None:
        """Stop every process of this lab, the recorded ones and any found by their files, and remove the
        lab's directory. For a damaged state too: the processes are found under ``root`` without it."""
        try:
            state = self.read()
        except StateCorrupt:
            state = None
        recorded = state.all_procs() if state is not None else []
        known = {p.pid for p in recorded}
        stop_all(recorded + [r for r in strays(self.root) if r.pid not in known])
        self.remove()

    def remove(self) -> None:
        """Remove the lab's directory (config, logs, state); the lock file stays, it is the lab's name."""
        shutil.rmtree(self.root, ignore_errors=True)
