"""Embedded mesh: start to first 200 response, and the whole mesh's memory.

Peers measured in the same run: one bare Envoy (static config, started to ``/ready``) for time and memory, and
the issue's targets (start < 3 s, RSS < 400 MB on a 2-core machine). Printed as ratios.
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from lablib.envoy.process import start_envoy, wait_ready, with_kill

REPO = Path(__file__).resolve().parents[1]
TARGET_START_S = 3.0
TARGET_RSS_MB = 400.0


def _bare_envoy(workdir: Path) -> tuple[float, float]:
    """Seconds from exec to ``/ready`` and RSS (MB) of one Envoy with an empty static config, 2 workers."""
    cfg = workdir / "bare.yaml"
    cfg.write_text("admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}\n")
    t0 = time.perf_counter()
    launch = start_envoy(cfg, workdir=workdir, name="bare", workers=2)
    try:
        wait_ready(launch)
        elapsed = time.perf_counter() - t0
        rss = psutil.Process(launch.pid).memory_info().rss / 1e6
    finally:
        with_kill(launch.popen)
    return elapsed, rss


def _mesh(home: Path) -> tuple[float, float, int]:
    """Seconds from ``MeshBackend()`` to the first 200 through the client sidecar, RSS (MB), process count."""
    from lablib.backends.mesh import MeshBackend

    t0 = time.perf_counter()
    mesh = MeshBackend("bench", home=home)
    try:
        mesh.apply(REPO / "manifests/service/go/service-go.yaml")
        mesh.apply(REPO / "manifests/istio/resilience/destination-rule-go-cb.yaml")
        host, port = mesh.listener_for("http://service-go/env")
        req = urllib.request.Request(f"http://{host}:{port}/env", headers={"Host": "service-go"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        elapsed = time.perf_counter() - t0
        mesh.fortio("load -c 30 -qps 0 -n 300 -loglevel Error http://service-go/env")  # memory under load
        rss = mesh.rss_bytes() / 1e6
        procs = len(mesh.processes())
    finally:
        mesh.cleanup()
    return elapsed, rss, procs


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-mesh-") as tmp:
        tmp_path = Path(tmp)
        os.environ.setdefault("LABLIB_HOME", str(tmp_path / "home"))
        bare_s, bare_mb = _bare_envoy(tmp_path)
        mesh_s, mesh_mb, procs = _mesh(tmp_path / "home")
    print(f"mesh start to first 200: {mesh_s:.2f} s  = {mesh_s / bare_s:.1f}x one bare Envoy start "
          f"({bare_s:.2f} s), {mesh_s / TARGET_START_S:.2f}x the {TARGET_START_S:.0f} s target")
    print(f"mesh RSS ({procs} processes, after 300 calls): {mesh_mb:.0f} MB = "
          f"{mesh_mb / bare_mb:.1f}x one bare "
          f"Envoy ({bare_mb:.0f} MB), {mesh_mb / TARGET_RSS_MB:.2f}x the {TARGET_RSS_MB:.0f} MB target")
    return 0 if mesh_s < TARGET_START_S and mesh_mb < TARGET_RSS_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
