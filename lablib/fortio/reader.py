"""``read_result``: one reader for our JSON, real fortio JSON and fortio's text summary.

The text parser knows every line fortio prints in ``load`` (see ``report.py``) across versions: the
1.0.1 runs printed in the book (``-loglevel Error``: counter + ``# target`` lines only), Istio's
fortio 1.3 output and current fortio. Lines it does not know (log lines, shell prompts) are skipped.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from lablib._exceptions import FortioError
from lablib._types import PathLike
from lablib.fortio.result import Bucket, FortioResult
from lablib.i18n import Msg

__all__ = ["read_result"]

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN"


def read_result(source: PathLike | dict[str, Any] | str) -> FortioResult:
    """Read one fortio run from a JSON dict, a file path, JSON text, or fortio's text summary.

    >>> r = read_result("tests/fortio/fixtures/fortio-1.3-text-istio-task-c3-n30.txt")
    >>> r.codes, r.sockets
    ({200: 11, 503: 19}, 20)
    """
    name = "<dict>"
    if isinstance(source, dict):
        return _from_json(source)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str)
        and "\n" not in source
        and len(source) < 4096
        and not source.lstrip().startswith("{")
    ):
        path = Path(source)
        if not path.exists():
            raise FortioError(Msg("fortio.reader.no_file", path=str(path)))
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise FortioError(Msg("fortio.reader.unreadable", path=str(path), err=str(e))) from None
    else:
        text = str(source)
        name = "<text>"
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise FortioError(Msg("fortio.reader.bad_json", name=name, line=e.lineno, err=e.msg)) from None
        if not isinstance(data, dict):
            raise FortioError(Msg("fortio.reader.not_object", name=name))
        return _from_json(data, name)
    return _from_text(text, name)


# ---- JSON ----


def _buckets(h: dict[str, Any] | None) -> list[Bucket] | None:
    if not h or not h.get("Data"):
        return [] if h is not None else None
    return [
        Bucket(float(b["Start"]), float(b["End"]), float(b["Percent"]), int(b["Count"])) for b in h["Data"]
    ]


def _from_json(d: dict[str, Any], name: str = "<dict>") -> FortioResult:
    # fortio's REST API nests the result; iter8 and others keep it as is
    dh = d.get("DurationHistogram")
    if not isinstance(dh, dict):
        raise FortioError(Msg("fortio.reader.no_histogram", name=name))
    codes = {int(k): int(v) for k, v in (d.get("RetCodes") or {}).items()}
    count = int(dh.get("Count", 0))
    rq = d.get("RequestedQPS", "")
    try:
        requested_qps = 0.0 if rq in ("max", "", None) else float(rq)
    except (TypeError, ValueError):
        requested_qps = 0.0
    version = str(d.get("Version", ""))
    exactly = int(d.get("Exactly", 0) or 0)
    return FortioResult(
        codes=codes,
        count=count,
        num_threads=int(d.get("NumThreads", 0)),
        qps=float(d.get("ActualQPS", 0.0)),
        requested_qps=requested_qps,
        duration_s=float(d.get("ActualDuration", 0)) / 1e9,
        avg_s=float(dh.get("Avg", 0.0)),
        min_s=float(dh.get("Min", 0.0)),
        max_s=float(dh.get("Max", 0.0)),
        stddev_s=float(dh.get("StdDev", 0.0)),
        percentiles={float(p["Percentile"]): float(p["Value"]) for p in dh.get("Percentiles") or []},
        sockets=int(d["SocketCount"]) if "SocketCount" in d else None,
        sockets_per_thread=[int(x) for x in d["Sockets"]] if d.get("Sockets") is not None else None,
        histogram=_buckets(dh),
        errors_histogram=_buckets(d.get("ErrorsDurationHistogram")),
        url=str(d.get("URL", "")),
        labels=str(d.get("Labels", "")),
        version=version,
        source="lablib" if "lablib" in version else "fortio-json",
        raw=d,
        exactly=exactly,
        start_time=str(d.get("StartTime", "")),
    )


# ---- text ----

_RE = {
    "header": re.compile(
        rf"^Fortio (\S+) running at ({_NUM}) queries per second, \d+->\d+ procs"
        rf"(?:, for (\d+) calls: (\S+)|, for (\S+): (\S+)|, until interrupted: (\S+))"
    ),
    "start_max": re.compile(r"^Starting at max qps with (\d+) thread\(s\)"),
    "start_qps": re.compile(rf"^Starting at ({_NUM}) qps with (\d+) thread\(s\)"),
    "ended": re.compile(rf"^Ended after (\S+) : (\d+) calls\. qps=({_NUM})"),
    "counter": re.compile(
        rf"^(.+?) : count (\d+) avg ({_NUM}) \+/- ({_NUM}) min ({_NUM}) max ({_NUM}) sum ({_NUM})"
    ),
    "nodata": re.compile(r"^(.+?) : no data$"),
    "bucket": re.compile(rf"^(>=|>) ({_NUM}) <= ({_NUM}) , ({_NUM}) , ({_NUM}), (\d+)$"),
    "target": re.compile(rf"^# target ({_NUM})% ({_NUM})$"),
    "sockets": re.compile(r"^Sockets used: (\d+) \(for perfect keepalive, would be (\d+)\)"),
    "per_thread": re.compile(r"^\[(\d+)\]\s+(\d+) socket used"),
    "code": re.compile(r"^Code\s+(-?\d+) : (\d+) \("),
    "done": re.compile(rf"^All done (\d+) calls \(plus (\d+) warmup\) ({_NUM}) ms avg, ({_NUM}) qps"),
}


def parse_go_duration(text: str) -> float:
    """Go ``time.Duration`` text (``51.9946ms``, ``1m0.5s``, ``12.5µs``) to seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([\d.]+)(h|ms|m|s|us|µs|μs|ns)", text)
    if not parts:
        raise ValueError(text)
    return sum(float(v) * units[u] for v, u in parts)


def _from_text(text: str, name: str) -> FortioResult:
    version = ""
    url = ""
    requested_qps: float | None = None
    exactly = 0
    num_threads = 0
    duration_s = 0.0
    qps = 0.0
    codes: dict[int, int] = {}
    sockets = None
    per_thread: list[int] = []
    current: str | None = None  # which histogram the bucket/target lines belong to
    hists: dict[str, dict[str, Any]] = {}
    done_count = None
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if m := _RE["header"].match(line):
            version, requested_qps = m.group(1), float(m.group(2))
            if m.group(3):
                exactly, url = int(m.group(3)), m.group(4)
            else:
                url = m.group(6) or m.group(7) or ""
        elif m := _RE["start_max"].match(line):
            num_threads = int(m.group(1))
        elif m := _RE["start_qps"].match(line):
            num_threads = int(m.group(2))
            requested_qps = float(m.group(1)) if requested_qps is None else requested_qps
        elif m := _RE["ended"].match(line):
            duration_s = parse_go_duration(m.group(1))
            qps = float(m.group(3))
        elif m := _RE["counter"].match(line):
            current = m.group(1)
            hists[current] = {
                "count": int(m.group(2)), "avg": float(m.group(3)), "stddev": float(m.group(4)),
                "min": float(m.group(5)), "max": float(m.group(6)), "sum": float(m.group(7)),
                "buckets": [], "targets": {},
            }  # fmt: skip
        elif m := _RE["nodata"].match(line):
            current = m.group(1)
            hists[current] = {
                "count": 0,
                "avg": 0.0,
                "stddev": 0.0,
                "min": 0.0,
                "max": 0.0,
                "sum": 0.0,
                "buckets": [],
                "targets": {},
            }
        elif m := _RE["bucket"].match(line):
            if current is not None:
                hists[current]["buckets"].append(
                    Bucket(float(m.group(2)), float(m.group(3)), float(m.group(5)), int(m.group(6)))
                )
        elif m := _RE["target"].match(line):
            if current is not None:
                hists[current]["targets"][float(m.group(1))] = float(m.group(2))
        elif m := _RE["sockets"].match(line):
            sockets, num_threads = int(m.group(1)), int(m.group(2))
        elif m := _RE["per_thread"].match(line):
            per_thread.append(int(m.group(2)))
        elif m := _RE["code"].match(line):
            codes[int(m.group(1))] = int(m.group(2))
        elif m := _RE["done"].match(line):
            done_count = int(m.group(1))
            if not qps:
                qps = float(m.group(4))
    agg = hists.get("Aggregated Function Time")
    if agg is None or not codes:
        raise FortioError(Msg("fortio.reader.not_summary", name=name))
    count = agg["count"] if done_count is None else done_count
    if not duration_s and qps:
        duration_s = count / qps  # 1.0.1 at -loglevel Error prints no "Ended after" line
    err = hists.get("Error cases")
    return FortioResult(
        codes=codes,
        count=count,
        num_threads=num_threads,
        qps=qps,
        requested_qps=requested_qps or 0.0,
        duration_s=duration_s,
        avg_s=agg["avg"],
        min_s=agg["min"],
        max_s=agg["max"],
        stddev_s=agg["stddev"],
        percentiles=dict(agg["targets"]),
        sockets=sockets,
        sockets_per_thread=per_thread or None,
        histogram=agg["buckets"] or None,
        errors_histogram=(err["buckets"] or None) if err else None,
        url=url,
        labels="",
        version=version,
        source="fortio-text",
        raw=None,
        exactly=exactly,
    )
