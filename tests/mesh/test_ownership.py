"""A lab belongs to its owner: its processes end with the owning process whatever thread started them, its
state is readable by its owner only, and a damaged state file is reported rather than silently replaced."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest
from mesh_helpers import service_go_yaml

from lablib import LabError
from lablib.backends.mesh import MeshBackend

pytestmark = pytest.mark.envoy

_OWNER = """
import json, sys, threading, time
from lablib.backends.mesh.backend import MeshBackend
out = {}
def start():
    m = MeshBackend(home=sys.argv[1], service_time_ms=5)
    m.apply(sys.argv[2])
    out["procs"] = [r.as_dict() for r in m.processes()]
if sys.argv[3] == "thread":
    t = threading.Thread(target=start)
    t.start()
    t.join()  # the thread that started the lab is gone: its processes must still run
else:
    start()
time.sleep(1.0)
print(json.dumps(out["procs"]), flush=True)
time.sleep(120)
"""


def _wait_all_dead(records, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(r.alive() for r in records):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_a_killed_owner_takes_its_lab_with_it(lab_home, write, started_from):
    from lablib.backends.mesh._procs import ProcRecord

    svc = write("service-go.yaml", service_go_yaml(versions=("v1",)))
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, str(lab_home), str(svc), started_from],
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        records = [ProcRecord.from_dict(d) for d in json.loads(owner.stdout.readline())]
        assert len(records) == 3
        assert all(r.alive() for r in records), "the lab must outlive the thread that started it"
    finally:
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
    # Nobody reaps here (no new Lab()): the processes must go by themselves.
    assert _wait_all_dead(records), f"still running after the owner died: {[r for r in records if r.alive()]}"
    shutil.rmtree(lab_home / "default", ignore_errors=True)


def test_state_is_the_owners_only(mesh):
    for d in (mesh.dir.root, mesh.dir.config, mesh.dir.logs):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for f in (mesh.dir.state_file, mesh.dir.lock_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to act as another local user (nobody)")
def test_another_local_user_cannot_read_the_state(mesh):
    mode = stat.S_IMODE(mesh.dir.home.stat().st_mode)
    os.chmod(mesh.dir.home, 0o755)  # even when the lab home itself is open
    try:
        for target in (mesh.dir.state_file, mesh.dir.logs / "fortio-sidecar.log"):
            probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                    "cat", str(target)], capture_output=True, text=True, timeout=10)
            assert probe.returncode != 0 and "Permission denied" in probe.stderr, (target, probe)
        listing = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                  "ls", str(mesh.dir.root)], capture_output=True, text=True, timeout=10)
        assert listing.returncode != 0
    finally:
        os.chmod(mesh.dir.home, mode)  # the module's lab: as the test found it


def test_a_corrupt_state_file_is_reported_and_cleanup_still_works(make_mesh, lab_home):
    mesh = make_mesh(persist=True)
    procs = mesh.processes()
    mesh.dir.state_file.write_text('{"name": "default", "workers": ')  # cut short, as by a full disk
    with pytest.raises(LabError) as err:
        MeshBackend(home=lab_home)
    msg = str(err.value)
    assert str(mesh.dir.state_file) in msg and "cleanup" in msg
    assert all(r.alive() for r in procs), "a damaged state must not make the lab kill or replace anything"
    assert mesh.dir.state_file.read_text().startswith('{"name"'), "the file is left for the user to see"
    from lablib._cli import cleanup_main

    assert cleanup_main(["--backend", "embedded"]) == 0
    assert _wait_all_dead(procs)
    assert not mesh.dir.root.exists()
