"""The embedded lab's state on disk, so it outlives one Python process the way a kind cluster outlives a
kernel.

``$LABLIB_HOME`` (default ``~/.cache/lablib``) holds one directory per lab name::

    <home>/<name>.lock          flock held while the lab is changed (outside the dir, so removing it is safe)
    <home>/<name>/state.json    owner, options, processes (pid + start time), pods, ports, applied objects
    <home>/<name>/config/       bootstraps and xDS files the Envoys watch
    <home>/<name>/logs/         Envoy and service-go output, the client sidecar's access log
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

from lablib.backends.mesh._procs import ProcRecord

__all__ = ["LabState", "PodState", "StateDir", "lablib_home"]

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
        )


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
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def exists(self) -> bool:
        return self.state_file.is_file()

    def read(self) -> LabState | None:
        try:
            return LabState.from_dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, state: LabState) -> None:
        tmp = self.state_file.with_name(f".state.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(state.as_dict(), indent=1))
        os.replace(tmp, self.state_file)

    def create(self) -> None:
        for d in (self.root, self.config, self.logs):
            d.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        """Remove the lab's directory (config, logs, state); the lock file stays, it is the lab's name."""
        shutil.rmtree(self.root, ignore_errors=True)
