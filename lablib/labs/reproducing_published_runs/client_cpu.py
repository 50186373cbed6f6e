"""Give the load generator and the client sidecar only some CPUs, like a client pod on a small node.

The book's fortio printed ``1->1 procs``: its pod's node had one CPU, shared by fortio and the client sidecar
(docs/reference/published-experiments.md §1.2, B1). :func:`pinned` plays that environment on the lab's
machine with CPU affinity (``sched_setaffinity``, Linux): the calling thread (fortio's threads start from it)
and every thread of the given processes (the client Envoy's workers) run only on the chosen CPUs until the
block ends, when each gets its previous set back.

Which CPUs is chosen per lab, so that students sharing a server do not all pile onto one CPU: each lab starts
from its own place (a hash of its key: the lab's state directory) and *claims* the CPUs it pins with a lock
file per CPU in a directory every user shares (``flock``: the claim ends with the block, or with the process
if it dies). A lab takes the first CPUs nobody has claimed; when every CPU is claimed it shares, and says so.
Without CPU affinity (macOS, Windows) nothing is pinned and a warning says what that changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from lablib._exceptions import LabError, LabWarning
from lablib.backends.mesh._plan import CLIENT as CLIENT_ROLE
from lablib.i18n import Msg

__all__ = ["CLAIMS", "choose_cpus", "client_sidecar_pids", "fortio_in", "lab_key", "pinned"]

#: Where labs claim the CPUs they pin: one lock file per CPU, shared by every user of the machine (sticky and
#: world-writable, like /tmp itself).
CLAIMS = Path(tempfile.gettempdir()) / "lablib-cpu-claims"

try:
    import fcntl
except ImportError:  # Windows: no flock, no claims (and no pinning either)
    fcntl = None  # type: ignore[assignment]


def _threads(pids: Iterable[int]) -> list[int]:
    tids = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            tids.extend(t.id for t in psutil.Process(pid).threads())
    return tids


def _preference(allowed: Sequence[int], key: str) -> list[int]:
    """The allowed CPUs in the order lab ``key`` tries them: from its own place (a hash of the key) onwards,
    CPU 0 (where interrupts land) last."""
    rest = [c for c in sorted(allowed) if c != 0]
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % len(rest) if rest else 0
    return rest[start:] + rest[:start] + [c for c in allowed if c == 0]


def _claims_dir() -> Path | None:
    """The shared claims directory, made if missing; None when it cannot be trusted or used (not a real
    directory, or neither ours nor sticky: another user could swap its files)."""
    if fcntl is None:
        return None
    with contextlib.suppress(FileExistsError, OSError):
        CLAIMS.mkdir()
        os.chmod(CLAIMS, 0o1777)
    try:
        info = os.lstat(CLAIMS)
    except OSError:
        return None
    trusted = stat.S_ISDIR(info.st_mode) and (info.st_uid == os.getuid() or info.st_mode & stat.S_ISVTX)
    return CLAIMS if trusted else None


def _claim(directory: Path, cpu: int) -> int | None:
    """A lock on ``cpu``'s claim file (its open descriptor), or None when another lab holds it."""
    path = directory / f"cpu{cpu}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o444)
    except OSError:
        return None
    with contextlib.suppress(OSError):  # readable by every user whatever our umask (only the owner may)
        os.fchmod(fd, 0o444)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def choose_cpus(cpus: int, *, key: str, allowed: Sequence[int]) -> tuple[set[int], list[int]]:
    """``cpus`` of the ``allowed`` CPUs for the lab named by ``key``, and the claims held on them (descriptors
    to close when done; empty when the CPUs are shared with another lab, which a ``LabWarning`` says)."""
    order = _preference(allowed, key)
    directory = _claims_dir()
    if directory is not None:
        held: dict[int, int] = {}
        for cpu in order:
            fd = _claim(directory, cpu)
            if fd is not None:
                held[cpu] = fd
                if len(held) == cpus:
                    return set(held), list(held.values())
        for fd in held.values():
            os.close(fd)
        warnings.warn(LabWarning(Msg("cpu.shared", cpus=", ".join(map(str, order[:cpus])))), stacklevel=3)
    return set(order[:cpus]), []


@contextlib.contextmanager
def pinned(pids: Iterable[int], cpus: int, *, key: str = "") -> Iterator[set[int]]:
    """Run this thread and every thread of ``pids`` on ``cpus`` CPUs (chosen for the lab ``key``: see the
    module's docstring) inside the block; yields the CPU set. Without CPU affinity (macOS, Windows) the
    block runs unpinned, a ``LabWarning`` says so, and the set is empty."""
    if not hasattr(os, "sched_setaffinity"):
        warnings.warn(LabWarning(Msg("cpu.not_pinned", cpus=cpus)), stacklevel=3)
        yield set()
        return
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= cpus <= len(allowed):
        raise LabError(Msg("cpu.too_many", cpus=cpus, allowed=len(allowed)))
    chosen, claims = choose_cpus(cpus, key=key, allowed=allowed)
    targets = [0, *_threads(pids)]  # 0: the calling thread
    before: dict[int, set[int]] = {}
    try:
        for tid in targets:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                before[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, chosen)
        yield chosen
    finally:
        for tid, cpuset in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpuset)
        for fd in claims:
            os.close(fd)


def lab_key(lab: Any) -> str:
    """What tells one lab from another on this machine: its state directory (per user and lab name)."""
    backend = getattr(lab, "backend", lab)
    root = getattr(getattr(backend, "dir", None), "root", None)
    return str(root) if root is not None else f"{os.getuid() if hasattr(os, 'getuid') else ''}:{id(backend)}"


def client_sidecar_pids(lab: Any) -> list[int]:
    """The fortio pod's sidecar process(es) of an embedded lab (a ``Lab`` or a ``MeshBackend``)."""
    backend = getattr(lab, "backend", lab)
    processes = getattr(backend, "processes", None)
    if processes is None:
        raise LabError(Msg("cpu.needs_embedded"))
    return [p.pid for p in processes() if p.role == CLIENT_ROLE]


def fortio_in(lab: Any, env: Any, c: int, url: str = "http://service-go/env") -> Any:
    """``lab.fortio`` with ``env``'s fortio flags (``presets.Environment``), the client pinned to
    ``env.client_cpus`` CPUs of this lab's own when the environment says so."""
    args = env.fortio_args(c, url)
    if not env.client_cpus:
        return lab.fortio(args)
    with pinned(client_sidecar_pids(lab), env.client_cpus, key=lab_key(lab)):
        return lab.fortio(args)
