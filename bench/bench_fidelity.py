"""Fidelity: the published circuit-breaking runs replayed under each environment factor, on real Envoy.

For the Istio task (c = 1, 2, 3) and the book (c = 20, 30, 40) this runs the preset (lab 04's ``presets``) and
variants that change one factor of docs/reference/published-experiments.md §7-8 at a time: service time, 1 vs
2 workers, ``reuse_port`` off, mTLS off/on, a 1-CPU client (fortio and its sidecar pinned), and, for the book,
the rule without ``http2MaxRequests``. Each row prints the mean 503 share over ``--runs`` runs, its spread
(min-max), the published share, and the run's timing (hold per 200, 503 turnaround r, from the runs
themselves). The preset row is the peer every variant's effect is measured against, in the same run.

    python -m bench fidelity                 # both experiments, default runs
    python -m bench.bench_fidelity --only task --runs 8 --json /tmp/fidelity.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    """One environment's runs at each ``-c``."""

    label: str
    env: Any
    shares: dict[int, list[float]] = field(default_factory=dict)
    hold_ms: dict[int, list[float]] = field(default_factory=dict)
    reject_ms: dict[int, list[float]] = field(default_factory=dict)
    handshakes: dict[int, list[int]] = field(default_factory=dict)

    def mean(self, c: int) -> float:
        return statistics.fmean(self.shares[c]) if self.shares.get(c) else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "environment": self.env.describe(), "shares": self.shares,
                "hold_ms": self.hold_ms, "reject_ms": self.reject_ms, "handshakes": self.handshakes}


def _rule_without_http2_max_requests(path: Path, workdir: Path) -> Path:
    text = "".join(line for line in path.read_text().splitlines(keepends=True)
                   if "http2MaxRequests" not in line)
    out = workdir / f"no-http2MaxRequests-{path.name}"
    out.write_text(text)
    return out


def measure(env: Any, cs: list[int], runs: int, *, home: Path, rule: Path | None = None,
            label: str | None = None) -> Row:
    """Start a lab for ``env``, apply service-go and the rule, run fortio ``runs`` times per ``-c``."""
    from lablib.backends.mesh import MeshBackend
    from lablib.labs.reproducing_published_runs.client_cpu import fortio_in
    from lablib.theory import times_from_result

    row = Row(label or env.describe(), env)
    mesh = MeshBackend(f"fidelity-{os.getpid()}-{time.monotonic_ns()}", home=home, **env.lab_options())
    try:
        mesh.apply(env.service_path())
        mesh.apply(rule or env.rule_path())
        cluster = "outbound|80||service-go.default.svc.cluster.local"
        with contextlib.redirect_stdout(io.StringIO()):  # connect once, warm
            mesh.fortio("load -c 1 -qps 0 -n 5 -loglevel Error http://service-go/env")
        for c in cs:
            for _ in range(runs):
                before = mesh.stats(cluster).get("ssl.handshake")
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    result = fortio_in(mesh, env, c)  # its text report and -loglevel Warning lines
                row.shares.setdefault(c, []).append(result.share(503))
                row.handshakes.setdefault(c, []).append(mesh.stats(cluster).get("ssl.handshake") - before)
                try:
                    hold, reject = times_from_result(result)
                except (ValueError, ZeroDivisionError):
                    hold, reject = float("nan"), float("nan")
                row.hold_ms.setdefault(c, []).append(hold * 1000)
                row.reject_ms.setdefault(c, []).append(reject * 1000)
                time.sleep(0.2)  # let the last connections close: every run starts from the same pool
    finally:
        mesh.cleanup()
    return row


def task_rows(runs: int, home: Path) -> list[Row]:
    from lablib.labs.reproducing_published_runs.presets import preset

    env = preset("istio-task")
    cs = [1, 2, 3]
    variants = [
        ("istio-task preset", env),
        ("mTLS off", env.with_(mtls=False)),
        ("1 worker", env.with_(workers=1)),
        ("1 worker, mTLS off", env.with_(workers=1, mtls=False)),
        ("reuse_port off", env.with_(reuse_port=False)),
        ("service 2 ms", env.with_(service_time_ms=2.0)),
        ("service 4 ms", env.with_(service_time_ms=4.0)),
        ("1-CPU client", env.with_(client_cpus=1)),
        ("2 pods (v1 + v2)", env.with_(service="service/go/service-go.yaml")),
    ]
    rows = [measure(e, cs, runs, home=home, label=label) for label, e in variants]
    # The task's whole rule: its outlierDetection (consecutive5xxErrors 1, 3 min) can eject the only pod.
    rows.append(measure(env, cs, runs, home=home, label="+ task's outlierDetection",
                        rule=env.rule_path().with_name("destination-rule-go-istio-task.yaml")))
    return rows


def book_rows(runs: int, home: Path, workdir: Path) -> list[Row]:
    from lablib.labs.reproducing_published_runs.presets import preset

    env = preset("book")
    cs = [20, 30, 40]
    rows = [measure(e, cs, runs, home=home, label=label) for label, e in [
        ("book preset", env),
        ("book preset again (noise)", env),
        ("2 workers", env.with_(workers=2)) if env.workers == 1 else ("1 worker", env.with_(workers=1)),
        ("mTLS off", env.with_(mtls=not env.mtls)) if env.mtls else ("mTLS on", env.with_(mtls=True)),
        ("reuse_port off", env.with_(reuse_port=False)),
        ("client unpinned", env.with_(client_cpus=None)) if env.client_cpus
        else ("1-CPU client", env.with_(client_cpus=1)),
        ("service 10 ms", env.with_(service_time_ms=10.0)),
    ]]
    rows.append(measure(env, cs, runs, home=home, label="no http2MaxRequests",
                        rule=_rule_without_http2_max_requests(env.rule_path(), workdir)))
    return rows


def _fmt(values: list[float], pct: bool = True) -> str:
    if not values:
        return "-"
    k = 100 if pct else 1
    mean = statistics.fmean(values) * k
    return f"{mean:5.1f} [{min(values) * k:4.1f}-{max(values) * k:4.1f}]"


def print_table(title: str, rows: list[Row], cs: list[int], published: dict[int, float]) -> None:
    print(f"\n{title}  (503 share %, mean [min-max]; Δ = against the first row, same run)")
    head = f"{'environment':<24}" + "".join(f"{'c=' + str(c):>22}{'Δ':>7}" for c in cs) + f"{'hold/r ms':>16}"
    print(head)
    print(f"{'published':<24}" + "".join(f"{published.get(c, float('nan')) * 100:>22.1f}{'':>7}" for c in cs))
    base = rows[0]
    last = cs[-1]
    for row in rows:
        cells = "".join(f"{_fmt(row.shares.get(c, [])):>22}{(row.mean(c) - base.mean(c)) * 100:>+7.1f}"
                        for c in cs)
        hold = statistics.fmean(row.hold_ms.get(last, [float("nan")]))
        reject = statistics.fmean(row.reject_ms.get(last, [float("nan")]))
        print(f"{row.label:<24}{cells}{hold:>8.2f}/{reject:<7.2f}")


def record(out: dict[str, Any]) -> None:
    """Merge this session's rows into the shipped file lab 04 reads (an experiment not run keeps its rows)."""
    import yaml

    from lablib.labs.reproducing_published_runs.reproduce import MEASURED_FILE

    data = yaml.safe_load(MEASURED_FILE.read_text()) if MEASURED_FILE.exists() else {}
    for experiment in ("task", "book"):
        if experiment in out:  # -c keys as numbers, also when the rows come back from --json
            data[experiment] = [{k: ({int(c): [round(x, 4) for x in v] for c, v in val.items()}
                                     if isinstance(val, dict) else val)
                                 for k, val in row.items()} for row in out[experiment]]
            data[f"{experiment}_session"] = {
                "runs": out["runs"], "load_start": round(out["load_start"][0], 2),
                "load_end": round(out["load_end"][0], 2),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    header = "# Written by `python -m bench.bench_fidelity --record`: the numbers lab 04 shows.\n"
    MEASURED_FILE.write_text(header + yaml.safe_dump(data, sort_keys=False, width=110,
                                                                default_flow_style=None))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_fidelity")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--only", choices=["task", "book"], default=None)
    p.add_argument("--json", type=Path, default=None, help="also write every run's numbers here")
    p.add_argument("--record", action="store_true",
                   help="write the rows to lablib/published/measured-fidelity.yaml (what lab 04 shows)")
    args = p.parse_args([] if argv is None else argv)  # `python -m bench fidelity` passes none
    from lablib.labs.reproducing_published_runs.presets import preset

    print(f"load average at start: {os.getloadavg()[0]:.2f} (2-core machine shared with other jobs)")
    out: dict[str, Any] = {"runs": args.runs, "load_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-fidelity-") as tmp:
        home = Path(tmp) / "home"
        if args.only in (None, "task"):
            rows = task_rows(args.runs, home)
            print_table("Istio task (-c 1/2/3, -n 10c)", rows, [1, 2, 3], preset("istio-task").published)
            out["task"] = [r.as_dict() for r in rows]
        if args.only in (None, "book"):
            rows = book_rows(args.runs, home, Path(tmp))
            print_table("Book (-c 20/30/40, -n 10c)", rows, [20, 30, 40], preset("book").published)
            out["book"] = [r.as_dict() for r in rows]
    out["load_end"] = os.getloadavg()
    print(f"\nload average at end: {out['load_end'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if args.record:
        record(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
