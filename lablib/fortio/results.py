"""fortio's JSON result (``fhttp.HTTPRunnerResults``, or ``fgrpc.GRPCRunnerResults`` for ``-grpc``) for a
finished run, in fortio's key order.

Units as fortio's: seconds (float) in histograms, integer nanoseconds for Go ``time.Duration`` fields
(``ActualDuration``, ``HTTPReqTimeOut``, ``Offset``); map keys sorted as strings; embedded structs
flattened in struct order (periodic.RunnerResults, jrpc.ServerReply, HTTPOptions, TLSOptions).

A gRPC result is ``RunnerResults`` + ``RetCodes`` (by name: SERVING, ERROR, ...), ``Destination``,
``Streams``, ``Ping``, ``Metadata``, as fortio writes it, plus one key of ours: ``LablibGrpcErrors``, the
failed calls by gRPC status name (``{"UNAVAILABLE": 12}``), which fortio only logs. Go's decoder (fortio's
own reader, its UI) ignores keys it does not know.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from lablib.fortio.options import USER_AGENT, VERSION
from lablib.fortio.runner import RunData
from lablib.fortio.stats import go_duration, shortest_digits
from lablib.service_go.pingpb import STATUS_NAMES, go_code_name

__all__ = ["GRPC_ERRORS_KEY", "gen_id", "go_json", "go_json_float", "results_json"]

#: our key beside fortio's in a gRPC result: failed calls by gRPC status name
GRPC_ERRORS_KEY = "LablibGrpcErrors"


def _rfc3339nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac_s = f"{frac:09d}".rstrip("0")
    return base + ("." + frac_s if frac_s else "") + "Z"


def gen_id(gen_time: datetime, run_id: int, labels: str) -> str:
    """fortio's ``GenID``: ``YYYY-MM-DD-HHMMSS[_runid]_<labels, non-alnum runs as _>``, at most 96 chars."""
    base = gen_time.strftime("%Y-%m-%d-%H%M%S")
    if run_id:
        base += f"_{run_id}"
    if not labels:
        return base
    last = "_"
    base += last
    for ch in labels:
        if ch.isascii() and ch.isalnum():
            last = ch
        else:
            if last == "_":
                continue
            last = "_"
        base += last
    if last == "_":
        base = base[:-1]
    return base[:96]


def run_type(rd: RunData) -> str:
    """fortio's ``RunType``: ``HTTP``, ``GRPC Ping[ Delay=…]`` or ``GRPC Health for '…'``."""
    o = rd.options
    if not o.grpc:
        return "HTTP"
    if o.ping:
        delay = round(o.grpc_ping_delay_s * 1e9)
        return "GRPC Ping" + (f" Delay={go_duration(delay)}" if delay > 0 else "")
    return f"GRPC Health for '{o.health_service}'"


def results_json(rd: RunData) -> dict[str, Any]:
    """fortio's ``HTTPRunnerResults`` (or ``GRPCRunnerResults``) for this run, keys in fortio's order."""
    o, plan, tgt = rd.options, rd.plan, rd.target
    durations = rd.merged("durations")
    errors = rd.merged("errors")
    count = durations.count
    elapsed_s = rd.elapsed_ns / 1e9
    requested_duration = plan.requested_duration
    if plan.exactly > 0 and count != plan.exactly:
        requested_duration += f", interrupted after {count}"
    codes: dict[int | str, int] = {}
    ips: dict[str, int] = {}
    for t in rd.threads:
        for c, n in t.codes.items():
            codes[c] = codes.get(c, 0) + n
        for ip, n in t.ip_counts.items():
            ips[ip] = ips.get(ip, 0) + n
    pct = list(o.percentiles)
    runner = {
        "RunType": run_type(rd),
        "Labels": o.labels,
        "StartTime": _rfc3339nano(rd.start_time_ns),
        "RequestedQPS": plan.requested_qps,
        "RequestedDuration": requested_duration,
        "ActualQPS": count / elapsed_s if elapsed_s > 0 else 0.0,
        "ActualDuration": rd.elapsed_ns,
        "NumThreads": plan.num_threads,
        "Version": VERSION,
        "DurationHistogram": durations.export(pct),
        "ErrorsDurationHistogram": errors.export(pct),
        "Exactly": plan.exactly,
        "Jitter": o.jitter,
        "Uniform": o.uniform,
        "NoCatchUp": o.no_catch_up,
        "RunID": o.run_id,
        "AccessLoggerInfo": "",
        "ID": gen_id(rd.gen_time, o.run_id, o.labels),
    }
    ret_codes = {str(c): codes[c] for c in sorted(codes, key=str)}
    if o.grpc:
        return {**runner, "RetCodes": ret_codes, **_grpc_fields(rd)}
    return {
        **runner,
        "RetCodes": ret_codes,
        "IPCountMap": dict(sorted(ips.items())),
        "Insecure": False,
        "MTLS": False,
        "CACert": "",
        "Cert": "",
        "Key": "",
        "UnixDomainSocket": "",
        "URL": tgt.url,
        "NumConnections": 1,
        "Compression": False,
        "DisableFastClient": o.h2,  # -h2 switches fortio to its std client
        "HTTP10": False,
        "H2": o.h2,
        "DisableKeepAlive": not o.keepalive,
        "AllowHalfClose": False,
        "FollowRedirects": False,
        "Resolve": "",
        "HTTPReqTimeOut": round(o.timeout_s * 1e9),
        "UserCredentials": "",
        "ContentType": "",
        "Payload": "",
        "MethodOverride": "",
        "LogErrors": o.log_errors,
        "SequentialWarmup": o.sequential_warmup,
        "ConnReuseRange": [0, 0],
        "NoResolveEachConn": False,
        "Offset": round(o.offset_s * 1e9),
        "Resolution": o.resolution_s,
        "Sizes": rd.merged("sizes").export(),
        "HeaderSizes": rd.merged("header_sizes").export(),
        "Sockets": [t.sockets for t in rd.threads],
        "SocketCount": sum(t.sockets for t in rd.threads),
        "ConnectionStats": rd.merged("connect").export(pct),
        "AbortOn": o.abort_on,
    }


def _grpc_fields(rd: RunData) -> dict[str, Any]:
    """``GRPCRunnerResults``' own fields, then ours (the errors by status)."""
    o = rd.options
    metadata: dict[str, list[str]] = {"user-agent": [USER_AGENT]}  # fortio's headers, as gRPC metadata
    for name, value in o.headers:
        low = name.lower()
        if low == "user-agent":
            metadata[low] = [value]
        elif low not in ("content-length", "content-type"):
            metadata.setdefault(low, []).append(value)
    by_status: dict[int, int] = {}
    for t in rd.threads:
        for status, n in t.grpc_errors.items():
            by_status[status] = by_status.get(status, 0) + n
    names = {STATUS_NAMES.get(s, go_code_name(s)): n for s, n in by_status.items()}
    return {
        "Destination": o.url,
        "Streams": o.streams,
        "Ping": o.ping,
        "Metadata": dict(sorted(metadata.items())),
        GRPC_ERRORS_KEY: dict(sorted(names.items())),
    }


def go_json(value: Any, indent: str = "  ") -> str:
    """``json.MarshalIndent(value, "", indent)`` as Go writes it, so our files are byte-like fortio's.

    Go differs from Python's ``json`` in number and string spelling: integral floats have no ``.0``,
    floats use positional notation unless ``< 1e-6`` or ``>= 1e21`` (then ``1e-07`` is written
    ``1e-7``), and ``<``, ``>``, ``&`` are escaped as ``\\u003c``, ``\\u003e``, ``\\u0026``.
    """
    out: list[str] = []
    _encode(value, out, indent, 0)
    return "".join(out)


def _encode(v: Any, out: list[str], indent: str, depth: int) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(go_json_float(v))
    elif isinstance(v, str):
        out.append(_go_string(v))
    elif isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        pad = "\n" + indent * (depth + 1)
        out.append("{")
        for i, (k, item) in enumerate(v.items()):
            out.append(("," if i else "") + pad + _go_string(str(k)) + ": ")
            _encode(item, out, indent, depth + 1)
        out.append("\n" + indent * depth + "}")
    elif isinstance(v, (list, tuple)):
        if not v:
            out.append("[]")
            return
        pad = "\n" + indent * (depth + 1)
        out.append("[")
        for i, item in enumerate(v):
            out.append(("," if i else "") + pad)
            _encode(item, out, indent, depth + 1)
        out.append("\n" + indent * depth + "]")
    else:
        raise TypeError(f"cannot encode {type(v).__name__} as JSON")


def go_json_float(x: float) -> str:
    """Go ``encoding/json`` float64: shortest digits, positional unless < 1e-6 or >= 1e21."""
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"json: unsupported value: {x}")
    if x == 0:
        return "0"
    sign, digits, point = shortest_digits(x)
    ax = abs(x)
    if ax < 1e-6 or ax >= 1e21:
        exp = point - 1
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _go_string(s: str) -> str:
    text = json.dumps(s, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )  # fmt: skip
