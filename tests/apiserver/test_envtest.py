"""The control plane fixture itself: nothing it starts outlives its owner, whether the owner fails or is
killed. Checked from outside (``tests.support.processes_under``: command lines naming its directory)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.apiserver.envtest import find_binaries
from tests.support import processes_under

REPO = Path(__file__).resolve().parents[2]
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
OWNER = """
import sys, time
from pathlib import Path
from tests.apiserver.envtest import ControlPlane
with ControlPlane.start(Path(sys.argv[1])) as plane:
    print(plane.directory, flush=True)
    sys.stdin.readline()  # the test has seen the processes
    if sys.argv[2] == "fail":
        raise RuntimeError("a failing test")
    time.sleep(600)
"""


@pytest.mark.parametrize("end", ["fail", "sigkill"])
def test_nothing_outlives_its_owner(end, control_plane):
    bin_dir = find_binaries()
    assert bin_dir is not None
    # Orphans of the killed owner come to this process (not to PID 1, which may never reap them here).
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(bin_dir), end], cwd=REPO, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": "."})
    assert owner.stdout is not None
    directory = Path(owner.stdout.readline().strip())
    try:
        assert directory.is_dir(), owner.stderr.read() if owner.stderr else ""
        want = {"etcd", "kube-apiserver", "kube-controller-manager"}
        deadline = time.monotonic() + 20  # the last one may still be its launcher, about to exec
        while not want <= (running := _programs(directory)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert want <= running, running
        if end == "sigkill":
            owner.send_signal(signal.SIGKILL)
        else:
            assert owner.stdin is not None
            owner.stdin.write("go\n")
            owner.stdin.flush()
        owner.wait(timeout=60)
        assert owner.returncode == (1 if end == "fail" else -signal.SIGKILL)
        deadline = time.monotonic() + 20
        while processes_under(directory) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_under(directory) == []
    finally:
        owner.kill()
        owner.wait()
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0)
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error, ChildProcessError):
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, 0)
        shutil.rmtree(directory, ignore_errors=True)


def _programs(directory: Path) -> set[str]:
    names = set()
    for p in processes_under(directory):
        with contextlib.suppress(psutil.Error, IndexError):
            names.add(Path(p.cmdline()[0]).name)
    return names
