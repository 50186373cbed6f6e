"""Every sidecar's Envoy admin belongs to the lab's owner (issue #10): it listens on a Unix socket with mode
0600 inside the lab's state directory, never on TCP, so another local user can neither read
``/config_dump`` nor ``POST /reset_counters``. Tests run as root and try as ``nobody`` (``setpriv``)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from mesh_helpers import service_go_yaml

from lablib.backends.mesh import MeshBackend

pytestmark = pytest.mark.envoy

#: Runs as nobody: try to list the lab's directory and to speak HTTP to each admin socket given.
_INTRUDER = r"""
import json, os, socket, sys
out = {}
try:
    os.listdir(sys.argv[1])
    out["listdir"] = "ok"
except OSError as exc:
    out["listdir"] = type(exc).__name__
for path in sys.argv[2:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        s.sendall(b"POST /reset_counters HTTP/1.0\r\n\r\n")
        out[path] = s.recv(100).decode(errors="replace")
    except OSError as exc:
        out[path] = type(exc).__name__
    finally:
        s.close()
print(json.dumps(out))
"""


def _as_nobody(*args: str) -> dict[str, str]:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to act as another user")
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
            _INTRUDER]
    run = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A lab home every user may traverse (pytest's tmp dirs are 0700, which would prove nothing)."""
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    home = Path(tempfile.mkdtemp(prefix="lablib-owner-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_nobody_can_reach_no_admin_endpoint(open_home, tmp_path):
    manifest = tmp_path / "service-go.yaml"
    manifest.write_text(service_go_yaml())
    mesh = MeshBackend(home=open_home, service_time_ms=5)
    try:
        mesh.apply(manifest)
        sockets = sorted(mesh.dir.logs.glob("*.admin.sock"))
        assert len(sockets) == 3  # the fortio pod's sidecar and both pods' sidecars
        modes = [s.stat().st_mode for s in sockets]
        assert all(stat.S_ISSOCK(m) and stat.S_IMODE(m) == 0o600 for m in modes)
        # No admin on TCP: each Envoy listens only on the lab's data ports.
        state = mesh.dir.read()
        data_ports = {*state.client_listeners.values(), *(p.port for p in state.pods.values())}
        for record in [*state.client_procs, *(r for p in state.pods.values() for r in p.procs
                                              if r.role == "sidecar")]:
            listening = {c.laddr.port for c in psutil.Process(record.pid).net_connections("tcp")
                         if c.status == psutil.CONN_LISTEN}
            assert listening <= data_ports, (record, listening - data_ports)
        assert mesh.stats() is not None  # the owner still can

        # The lab's directory is closed to others, and so is each socket on its own: open the directories up
        # and the 0600 sockets still refuse.
        got = _as_nobody(str(mesh.dir.root), *map(str, sockets))
        assert got["listdir"] == "PermissionError"
        assert all(got[str(s)] == "PermissionError" for s in sockets), got
        for d in (mesh.dir.root, mesh.dir.logs):
            d.chmod(0o755)
        got = _as_nobody(str(mesh.dir.root), *map(str, sockets))
        assert got["listdir"] == "ok"  # the directory really is open now: what stops nobody is the socket
        assert all(got[str(s)] == "PermissionError" for s in sockets), got
        before = mesh.stats(pod="service-go-v1-0")["inbound|80||"].get("upstream_cx_total")
        assert before is not None  # counters were not reset by anyone else
    finally:
        mesh.cleanup()
