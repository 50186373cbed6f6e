"""Wall time of ``labs/01-circuit-breaking.ipynb`` with its default parameters on the embedded backend.

Target: the whole notebook in under 90 s on a 2-core machine. Prints the wall time, its ratio to the target,
the kernel-start peer (an empty notebook through the same papermill path, measured in the same run) and the
slowest cells. Runs in a private ``$LABLIB_HOME`` and fails if any Envoy or service-go process is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "labs" / "01-circuit-breaking.ipynb"
TARGET_S = 90.0

_RUN = (
    "import sys, papermill; papermill.execute_notebook(sys.argv[1], sys.argv[2], cwd=sys.argv[3], "
    "kernel_name='python3', progress_bar=False)"
)


def _execute(source: Path, out: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(source), str(out), str(NOTEBOOK.parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"notebook failed:\n{proc.stderr[-3000:]}")
    return wall


def main() -> int:
    from lablib.viz.checks import lab_processes

    tmp = Path(tempfile.mkdtemp(prefix="lablib-bench-nb-"))
    marker = f"LABLIB_BENCH_RUN={uuid.uuid4().hex}"
    env = {
        **os.environ,
        "LABLIB_HOME": str(tmp / "home"),
        "LABLIB_BACKEND": "embedded",
        marker.split("=")[0]: marker.split("=")[1],
    }
    try:
        empty = tmp / "empty.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("import lablib.viz")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, empty)
        peer = _execute(empty, tmp / "empty.out.ipynb", env)
        out = tmp / "executed.ipynb"
        wall = _execute(NOTEBOOK, out, env)
        cells = nbformat.read(out, as_version=4).cells
        code = [c for c in cells if c.cell_type == "code"]
        durations = [c.metadata.get("papermill", {}).get("duration") or 0.0 for c in code]
        firsts = [c.source.splitlines()[0][:70] for c in code]
        timed = sorted(zip(durations, firsts, strict=True), reverse=True)
        left = lab_processes(marker=marker)
        print(
            json.dumps(
                {
                    "notebook_wall_s": round(wall, 2),
                    "target_s": TARGET_S,
                    "ratio_to_target": round(wall / TARGET_S, 3),
                    "peer_kernel_start_s": round(peer, 2),
                    "ratio_to_kernel_start_peer": round(wall / peer, 2) if peer else None,
                    "slowest_cells": [{"s": round(s, 2), "cell": src} for s, src in timed[:5]],
                    "processes_left": len(left),
                },
                indent=1,
                ensure_ascii=False,
            )
        )
        print(
            f"notebook {wall:.1f} s = {wall / TARGET_S:.2f} × the {TARGET_S:.0f} s target "
            f"({'OK' if wall < TARGET_S else 'OVER'}); kernel start + import alone {peer:.1f} s"
        )
        return 0 if not left and wall < TARGET_S else 1
    finally:
        for pid in lab_processes(marker=marker):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
