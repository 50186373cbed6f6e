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

__all__ = ["broken_pods", "how_it_ended", "raise_if_broken"]


def how_it_ended(code: int | None) -> str:
    """An exit status (``Popen.returncode``: negative is a signal; None: unknown) in words."""
    if code is None:
        return "is no longer running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _how(record: ProcRecord, children: Mapping[int, subprocess.Popen[bytes]]) -> str:
    popen = children.get(record.pid)
    return how_it_ended(popen.poll() if popen is not None else None)


def broken_pods(state: LabState, logs: Path, children: Mapping[int, subprocess.Popen[bytes]], *,
                client_log: Path) -> dict[str, tuple[str, Path]]:
    """Pods with a dead app or sidecar: name -> (what happened, the dead process's log). ``children`` are
    this process's own Popens by pid (they know the exit status).

    Raises ``LabNotRunning`` when the fortio pod's sidecar is gone: the lab cannot work without it.
    """
    dead_client = [r for r in state.client_procs if not r.alive()]
    if dead_client or not state.client_procs:
        how = _how(dead_client[0], children) if dead_client else "was never recorded"
        raise LabNotRunning(f"the fortio pod's sidecar Envoy of lab {state.name!r} {how}; run "
                            "`python -m lablib cleanup` (or lab.cleanup()) and start a new lab. Its last "
                            f"words:\n{log_tail(client_log, 10)}")
    broken = {}
    for pod in state.pods.values():
        dead = next((r for r in pod.procs if not r.alive()), None)
        if dead is not None:
            sidecar = dead.role == "sidecar"
            log = logs / (f"{pod.name}-sidecar.log" if sidecar else f"{pod.name}-app.log")
            role = "sidecar Envoy" if sidecar else "app (service-go)"
            broken[pod.name] = (f"its {role} {_how(dead, children)}", log)
    return broken


def raise_if_broken(state: LabState, broken: Mapping[str, tuple[str, Path]]) -> None:
    """``BackendError`` naming every broken pod with the end of its log, and how to repair it."""
    if not broken:
        return
    lines = []
    for name, (why, log) in broken.items():
        tail = log_tail(log, 5)
        lines.append(f"pod {name}: {why}" + (f"; its log ends:\n{tail}" if tail else ""))
    how = "apply the file that made them again to recreate them (like a Deployment controller would)"
    raise BackendError(f"{len(broken)} pod(s) of lab {state.name!r} are broken; {how}:\n" + "\n".join(lines))
