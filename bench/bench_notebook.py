"""Each lab's notebook wall time against its time inside fortio, the peer measured in the same run.

For every lab of ``lablib.labs.LABS`` the notebook (English edition) is executed through papermill in a fresh
kernel on the embedded backend, in a private ``$LABLIB_HOME``, with ``$LABLIB_TIMING_LOG`` set: the mesh
then logs every fortio run and every step of starting the lab and applying a file
(``lablib.backends.mesh._timing``).

* wall: the code cells' time (papermill's per-cell durations, without papermill's own write of the notebook
  at each cell's start: it runs without an output path; the kernel's start is printed apart, with an
  empty notebook through the same path as its peer). The cell that first imports lablib is in the wall (the
  student waits for it) and printed apart too (lablib, plotly and ipywidgets load there);
* fortio: the time inside fortio runs, the union of their intervals (runs from several client pods at once
  count once); ``ActualDuration`` summed is printed too;
* ratio = wall ÷ fortio; the target is 1.15 with the notebook's own parameters (what a student runs): the
  rest is what the student waits for around the load (starting the lab, applying files, restarting pods).

Which parameters (``$BENCH_NOTEBOOK_PARAMS``): ``defaults`` (the notebook's own, the default), ``ci`` (each
lab's ``ci_parameters``: small runs, so a fixed cost weighs more) or ``both``. ``$BENCH_NOTEBOOK_LABS`` picks
labs (``01,03``), ``$BENCH_NOTEBOOK_RUNS`` repeats each (default 1). Fails if a notebook fails or leaves an
Envoy or service-go process behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[1]
LABS_DIR = REPO / "labs"
#: wall ÷ fortio a lab should stay under with its own parameters (issue 18).
TARGET = 1.15

# No output path while it runs: papermill would write the whole notebook (megabytes: plotly.js is in it) at
# the start of every cell, inside the cell's measured time, which no student waits for (JupyterLab autosaves
# every 2 minutes); the executed notebook is written once at the end. jsonschema's iri checker is left out of
# papermill's process (rfc3987-syntax builds grammars for 1.1 s at import; the kernel is another process).
_RUN = (
    "import json, sys; sys.modules['rfc3987_syntax'] = None; import nbformat, papermill; "
    "nb = papermill.execute_notebook(sys.argv[1], None, "
    "cwd=sys.argv[3], parameters=json.loads(sys.argv[4]), kernel_name='python3', progress_bar=False); "
    "nbformat.write(nb, sys.argv[2])"
)


def _execute(source: Path, out: Path, env: dict[str, str], parameters: dict[str, Any]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(source), str(out), str(source.parent), json.dumps(parameters)],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{source.name} failed:\n{proc.stderr[-3000:]}")
    return wall


def _union(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by the intervals (overlaps counted once)."""
    out, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            out += b - max(a, end)
            end = b
    return out


def _clip(intervals: Sequence[tuple[float, float]], a: float, b: float) -> list[tuple[float, float]]:
    return [(max(x, a), min(y, b)) for x, y in intervals if y > a and x < b]


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _one(number: str, notebook: Path, parameters: dict[str, Any], base_env: dict[str, str],
         tmp: Path) -> dict[str, Any]:
    """Execute one notebook once: wall, fortio, ratio, and where the rest went."""
    log = tmp / f"timing-{number}-{uuid.uuid4().hex[:6]}.jsonl"
    env = {**base_env, "LABLIB_TIMING_LOG": str(log)}
    out = tmp / f"{number}.out.ipynb"
    total = _execute(notebook, out, env, parameters)
    code = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
    spans = _read_log(log)
    fortio = [(s["start"], s["end"]) for s in spans if s["what"] == "fortio"]
    inside = _union(fortio)
    cells, outside, first_import = 0.0, [], None
    for c in code:
        meta = c.metadata.get("papermill", {})
        took = float(meta.get("duration") or 0.0)
        cells += took
        a, b = _epoch(meta.get("start_time")), _epoch(meta.get("end_time"))
        load = _union(_clip(fortio, a, b)) if a is not None and b is not None else 0.0
        outside.append((round(took - load, 2), (c.source.splitlines() or [""])[0][:60]))
        if first_import is None and "lablib" in c.source:  # the kernel's first import of the lab
            first_import = took
    steps: dict[str, float] = {}
    for s in spans:
        if s["what"] != "fortio":
            steps[s["what"]] = steps.get(s["what"], 0.0) + s["end"] - s["start"]
    applies = [s for s in spans if s["what"] == "mesh.apply"]
    return {
        "wall_s": round(cells, 2),
        "kernel_and_papermill_s": round(total - cells, 2),
        "fortio_s": round(inside, 2),
        "fortio_actual_s": round(sum(float(s.get("actual_s") or 0) for s in spans if s["what"] == "fortio"),
                                 2),
        "fortio_runs": len(fortio),
        "ratio": round(cells / inside, 3) if inside else None,
        "first_import_s": round(first_import or 0.0, 2),
        "applies": len(applies),
        "restarted_pods": sum(len(s.get("pods", ())) for s in spans if s["what"] == "mesh.start_pods"),
        "steps_s": {k: round(v, 2) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
        "most_time_outside_fortio": sorted(outside, reverse=True)[:5],
    }


def _choices() -> tuple[list[str], list[Any], int]:
    from lablib.labs import LABS

    which = os.environ.get("BENCH_NOTEBOOK_PARAMS", "defaults")
    if which not in ("defaults", "ci", "both"):
        raise SystemExit(f"BENCH_NOTEBOOK_PARAMS={which!r}: defaults, ci or both")
    kinds = ["defaults", "ci"] if which == "both" else [which]
    wanted = [n.strip() for n in os.environ.get("BENCH_NOTEBOOK_LABS", "").split(",") if n.strip()]
    labs = [info for info in LABS if not wanted or info.number in wanted]
    return kinds, labs, max(1, int(os.environ.get("BENCH_NOTEBOOK_RUNS", "1")))


def main() -> int:
    from lablib.notebook.checks import lab_processes

    kinds, labs, runs = _choices()
    tmp = Path(tempfile.mkdtemp(prefix="lablib-bench-nb-"))
    key, value = "LABLIB_BENCH_RUN", uuid.uuid4().hex
    env = {**os.environ, "LABLIB_HOME": str(tmp / "home"), "LABLIB_BACKEND": "embedded", key: value}
    env.pop("LABLIB_TIMING_LOG", None)
    report: dict[str, Any] = {}
    status = 0
    try:
        empty = tmp / "empty.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("import lablib.notebook")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, empty)
        report["peer_kernel_start_s"] = round(_execute(empty, tmp / "empty.out.ipynb", env, {}), 2)
        for kind in kinds:
            for info in labs:
                parameters = dict(info.ci_parameters) if kind == "ci" else {}
                done = [_one(info.number, LABS_DIR / info.notebook, parameters, env, tmp)
                        for _ in range(runs)]
                report[f"lab{info.number}/{kind}"] = done
                left = lab_processes(marker=f"{key}={value}")
                if left:
                    print(f"lab {info.number}: {len(left)} process(es) left behind: {left}", file=sys.stderr)
                    status = 1
        print(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"kernel start + import alone {report['peer_kernel_start_s']:.1f} s (not in the walls below)")
        for name, done in report.items():
            if not isinstance(done, list):
                continue
            ratios = [r["ratio"] for r in done if r["ratio"] is not None]
            walls = [r["wall_s"] for r in done]
            inside = [r["fortio_s"] for r in done]
            if not ratios:
                print(f"{name}: wall {statistics.mean(walls):.1f} s, no fortio run")
                continue
            mark = ""
            if name.endswith("/defaults"):
                mark = "OK" if statistics.median(ratios) <= TARGET else f"OVER the {TARGET} target"
            first = statistics.mean(r["first_import_s"] for r in done)
            print(f"{name}: wall {statistics.mean(walls):.1f} s = "
                  f"{'/'.join(f'{r:.2f}' for r in ratios)} × the {statistics.mean(inside):.1f} s inside "
                  f"fortio ({len(done)} run(s)); first import {first:.1f} s {mark}".rstrip())
        return status
    finally:
        for pid in lab_processes(marker=f"{key}={value}"):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
