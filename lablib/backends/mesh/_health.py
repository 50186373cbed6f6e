"""Is every process of the lab still running? A dead sidecar or app is found before each verb and named: which
pod, how it ended (exit code or signal when the process is our child, else "is no longer running") and the
end of its log, so no command quietly gets 503s or a refused connection from a hole in the mesh.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from lablib._exceptions import BackendError, LabNotRunning
from lablib.backends.mesh._procs import ProcRecord
from lablib.backends.mesh._state import LabState
from lablib.envoy.process import log_tail
from lablib.i18n import Joined, Msg

__all__ = ["broken_pods", "how_it_ended", "raise_if_broken"]


def how_it_ended(code: int | None) -> Msg:
    """An exit status (``Popen.returncode``: negative is a signal; None: unknown) in words."""
    if code is None:
        return Msg("mesh.health.no_longer_running")
    if code < 0:
        with contextlib.suppress(ValueError):
            return Msg("mesh.health.killed_by", signal=signal.Signals(-code).name)
        return Msg("mesh.health.killed_by_number", number=-code)
    return Msg("mesh.health.exited", code=code)


def _how(record: ProcRecord, children: Mapping[int, subprocess.Popen[bytes]]) -> Msg:
    popen = children.get(record.pid)
    return how_it_ended(popen.poll() if popen is not None else None)


def broken_pods(state: LabState, logs: Path, children: Mapping[int, subprocess.Popen[bytes]], *,
                client_log: Path) -> dict[str, tuple[Msg, Path]]:
    """Pods with a dead app or sidecar: name -> (what happened, the dead process's log). ``children`` are
    this process's own Popens by pid (they know the exit status).

    Raises ``LabNotRunning`` when the fortio pod's sidecar is gone: the lab cannot work without it.
    """
    dead_client = [r for r in state.client_procs if not r.alive()]
    if dead_client or not state.client_procs:
        how = _how(dead_client[0], children) if dead_client else Msg("mesh.health.never_recorded")
        raise LabNotRunning(Msg("mesh.health.client_gone", lab=state.name, how=how,
                                log=log_tail(client_log, 10)))
    broken = {}
    for pod in state.pods.values():
        dead = next((r for r in pod.procs if not r.alive()), None)
        if dead is not None:
            sidecar = dead.role == "sidecar"
            log = logs / (f"{pod.name}-sidecar.log" if sidecar else f"{pod.name}-app.log")
            how = _how(dead, children)
            broken[pod.name] = (Msg("mesh.health.sidecar_ended", how=how) if sidecar
                                else Msg("mesh.health.app_ended", how=how), log)
    return broken


def raise_if_broken(state: LabState, broken: Mapping[str, tuple[Msg, Path]]) -> None:
    """``BackendError`` naming every broken pod with the end of its log, and how to repair it."""
    if not broken:
        return
    lines = []
    for name, (why, log) in broken.items():
        tail = log_tail(log, 5)
        lines.append(Msg("mesh.health.pod_with_log", pod=name, why=why, log=tail) if tail
                     else Msg("mesh.health.pod", pod=name, why=why))
    raise BackendError(Msg("mesh.health.broken", n=len(broken), lab=state.name, pods=Joined(lines)))
