"""``read_result``: one reader for our JSON, real fortio JSON and fortio's text summary.

The text parser knows every line fortio prints in ``load`` (see ``report.py``) across versions: the
1.0.1 runs printed in the book (``-loglevel Error``: counter + ``# target`` lines only), Istio's
fortio 1.3 output and current fortio, HTTP and gRPC (``Ping SERVING : 10``). Of the log lines it reads only
fortio's ``Error making grpc call: rpc error: code = …`` warnings (the gRPC errors by status); other lines
(log lines, shell prompts) are skipped.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from lablib._duration import DurationError, parse_seconds
from lablib._exceptions import FortioError
from lablib._types import PathLike
from lablib.fortio.result import Bucket, FortioResult
from lablib.i18n import Msg
from lablib.service_go.pingpb import STATUS_NAMES, go_code_name

__all__ = ["read_result"]

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN"
#: our key in a gRPC result (results.GRPC_ERRORS_KEY; not imported: reading needs no generator)
_GRPC_ERRORS_KEY = "LablibGrpcErrors"
#: grpc-go's code names (fortio's log lines) -> gRPC's canonical names
_FROM_GO_NAME = {go_code_name(n): name for n, name in STATUS_NAMES.items()}


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
    codes = {_code(k): int(v) for k, v in (d.get("RetCodes") or {}).items()}
    run_type = str(d.get("RunType", "HTTP") or "HTTP")
    grpc_errors = None
    if run_type.startswith("GRPC"):
        ours = d.get(_GRPC_ERRORS_KEY)
        if isinstance(ours, dict):
            grpc_errors = {str(k): int(v) for k, v in ours.items()}
        elif not codes.get("ERROR"):
            grpc_errors = {}
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
        url=str(d.get("URL", d.get("Destination", ""))),
        labels=str(d.get("Labels", "")),
        version=version,
        source="lablib" if "lablib" in version else "fortio-json",
        raw=d,
        exactly=exactly,
        start_time=str(d.get("StartTime", "")),
        run_type=run_type,
        grpc_errors=grpc_errors,
        h2=bool(d.get("H2", False)),
    )


def _code(key: str) -> int | str:
    """A RetCodes key: an HTTP code (a number) or a gRPC name (SERVING, ERROR...)."""
    return int(key) if key.lstrip("-").isdigit() else key


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
    "grpc_code": re.compile(r"^(Ping|Health) (\S+) : (\d+)$"),
    "grpc_error": re.compile(r"Error making grpc call: rpc error: code = (\w+) desc = "),
    "errors_cut": re.compile(r"further .* warnings not shown"),
    "done": re.compile(rf"^All done (\d+) calls \(plus (\d+) warmup\) ({_NUM}) ms avg, ({_NUM}) qps"),
}


def _from_text(text: str, name: str) -> FortioResult:
    version = ""
    url = ""
    requested_qps: float | None = None
    exactly = 0
    num_threads = 0
    duration_s = 0.0
    qps = 0.0
    codes: dict[int | str, int] = {}
    grpc_kind = ""
    grpc_errors: dict[str, int] = {}
    errors_cut = False
    sockets = None
    per_thread: list[int] = []
    current: str | None = None  # which histogram the bucket/target lines belong to
    hists: dict[str, dict[str, Any]] = {}
    done_count = None
    for number, raw_line in enumerate(text.splitlines(), 1):
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
            try:
                duration_s = parse_seconds(m.group(1))  # Go's Duration.String
            except DurationError:
                raise FortioError(Msg("fortio.reader.bad_duration", name=name, line=number,
                                      value=m.group(1))) from None
            qps = float(m.group(3))
        elif m := _RE["per_thread"].match(line):  # before "counter": it ends with a connection timing counter
            per_thread.append(int(m.group(2)))
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
        elif m := _RE["code"].match(line):
            codes[int(m.group(1))] = int(m.group(2))
        elif m := _RE["grpc_code"].match(line):
            grpc_kind = m.group(1)
            codes[m.group(2)] = int(m.group(3))
        elif m := _RE["grpc_error"].search(line):
            name = _FROM_GO_NAME.get(m.group(1), m.group(1))
            grpc_errors[name] = grpc_errors.get(name, 0) + 1
        elif _RE["errors_cut"].search(line):
            errors_cut = True
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
        run_type=f"GRPC {grpc_kind}" if grpc_kind else "HTTP",
        grpc_errors=_text_grpc_errors(codes, grpc_errors, errors_cut) if grpc_kind else None,
    )


def _text_grpc_errors(codes: dict[int | str, int], logged: dict[str, int], cut: bool
                      ) -> dict[str, int] | None:
    """The errors by status as fortio's warnings tell them: only when every ERROR was logged."""
    errors = codes.get("ERROR", 0)
    if not errors:
        return {}
    return logged if not cut and sum(logged.values()) == errors else None
