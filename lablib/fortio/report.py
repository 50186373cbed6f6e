"""fortio's text summary of a ``load`` run (what fortio prints on stderr), line for line.

The lines, their order, the ``-loglevel`` that shows each one and the Go format verbs are fortio's
(``cli/fortio_main.go``, ``periodic/periodic.go``, ``fhttp/httprunner.go``, ``fgrpc/grpcrunner.go``,
``stats/stats.go``). A gRPC run has no socket lines: after the histograms, ``Jitter: false`` and one
``Ping SERVING : 10`` (or ``Health …``) line per RetCodes key.
Printing is separate from recording and exporting (``stats.py``) as in fortio.
"""

from __future__ import annotations

from typing import Any

from lablib.fortio.options import VERSION, LoadOptions
from lablib.fortio.periodic import RunPlan, gomaxprocs
from lablib.fortio.runner import RunData
from lablib.fortio.stats import Counter, go_duration, go_g

__all__ = ["header_line", "histogram_lines", "summary_lines"]


def header_line(options: LoadOptions, url: str) -> str:
    """Line 1: ``Fortio X running at Q queries per second, P->P procs, for N calls: URL``."""
    procs = gomaxprocs()
    text = (
        f"Fortio {VERSION} running at {go_g(float(options.qps))} queries per second, {procs}->{procs} procs"
    )
    if options.exactly > 0:
        return text + f", for {options.exactly} calls: {url}"
    if options.duration_s <= 0:
        return text + f", until interrupted: {url}"
    return text + f", for {go_duration(round(options.duration_s * 1e9))}: {url}"


def histogram_lines(hdata: dict[str, Any], msg: str) -> list[str]:
    """fortio ``HistogramData.Print``: counter line, ``# range…`` header, one line per bucket, targets."""
    if not hdata.get("Data"):
        return [f"{msg} : no data"]
    lines = [
        f"{msg} : count {hdata['Count']} avg {go_g(hdata['Avg'], 8)} +/- {go_g(hdata['StdDev'], 4)} "
        f"min {go_g(hdata['Min'])} max {go_g(hdata['Max'])} sum {go_g(hdata['Sum'], 9)}",
        "# range, mid point, percentile, count",
    ]
    for i, b in enumerate(hdata["Data"]):
        sep = ">=" if i == 0 else ">"
        lines.append(
            f"{sep} {go_g(b['Start'], 6)} <= {go_g(b['End'], 6)} , "
            f"{go_g((b['Start'] + b['End']) / 2.0, 6)} , "
            f"{b['Percent']:.2f}, {b['Count']}"
        )
    lines += [
        f"# target {go_g(p['Percentile'])}% {go_g(p['Value'], 6)}" for p in hdata.get("Percentiles") or []
    ]
    return lines


def start_lines(options: LoadOptions, plan: RunPlan, url: str) -> list[str]:
    """Lines 1-2 (before the run)."""
    lines = [header_line(options, url)]
    if options.level_at_most("warning"):
        lines.append(plan.start_line)
    return lines


def summary_lines(rd: RunData, res: dict[str, Any]) -> list[str]:
    """Lines 4-14 (after the run), from the run data and its JSON."""
    o, plan = rd.options, rd.plan
    warn = o.level_at_most("warning")
    lines: list[str] = []
    dh = res["DurationHistogram"]
    if warn:
        lines.append(
            f"Ended after {go_duration(res['ActualDuration'])} : {dh['Count']} calls. "
            f"qps={go_g(res['ActualQPS'], 5)}"
        )
    if plan.use_qps:
        sleeps = rd.merged("sleeps")
        pct_negative = 100.0 * sleeps.counts[0] / sleeps.count if sleeps.count else 0.0
        if pct_negative > 5:
            lines += histogram_lines(sleeps.export([50.0]), "Aggregated Sleep Time")
            lines.append(f"WARNING {pct_negative:.2f}% of sleep were falling behind")
        elif o.level_at_most("verbose"):
            lines += histogram_lines(sleeps.export([50.0]), "Aggregated Sleep Time")
        elif warn:
            lines.append(sleeps.line("Sleep times"))
    if warn:
        lines += histogram_lines(dh, "Aggregated Function Time")
        lines += histogram_lines(res["ErrorsDurationHistogram"], "Error cases")
    else:
        lines.append(_counter_line(dh, "Aggregated Function Time"))
        lines += [
            f"# target {go_g(p['Percentile'])}% {go_g(p['Value'], 6)}" for p in dh.get("Percentiles") or []
        ]
        lines.append(_counter_line(res["ErrorsDurationHistogram"], "Error cases"))
    if o.grpc:
        return lines + _grpc_lines(rd, res)
    lines.append("# Socket and IP used for each connection:")
    for i, t in enumerate(rd.threads):
        ips = t.ip_counts
        resolved = (
            next(iter(ips)) if len(ips) == 1 else "[" + ", ".join(f"{k} ({v})" for k, v in ips.items()) + "]"
        )
        lines.append(
            f"[{i}] {t.sockets:3d} socket used, resolved to {resolved}, "
            + t.connect.line("connection timing")
        )
    cs = res["ConnectionStats"]
    if o.level_at_most("info"):
        lines += histogram_lines(cs, "Connection time histogram (s)")
    elif warn:
        lines.append(_counter_line(cs, "Connection time (s)"))
    lines.append(f"Sockets used: {res['SocketCount']} (for perfect keepalive, would be {plan.num_threads})")
    lines.append(
        f"Uniform: {_tf(o.uniform)}, Jitter: {_tf(o.jitter)}, Catchup allowed: {_tf(not o.no_catch_up)}"
    )
    lines.append("IP addresses distribution:")
    lines += [f"{ip}: {n}" for ip, n in res["IPCountMap"].items()]
    count = dh["Count"]
    for code in sorted(int(c) for c in res["RetCodes"]):
        n = res["RetCodes"][str(code)]
        lines.append(f"Code {code:3d} : {n} ({100.0 * n / count if count else 0.0:.1f} %)")
    if o.level_at_most("verbose"):
        lines += histogram_lines(res["HeaderSizes"], "Response Header Sizes Histogram")
        lines += histogram_lines(res["Sizes"], "Response Body/Total Sizes Histogram")
    elif warn:
        lines.append(_counter_line(res["HeaderSizes"], "Response Header Sizes"))
        lines.append(_counter_line(res["Sizes"], "Response Body/Total Sizes"))
    return [*lines, _all_done(rd, res)]


def _grpc_lines(rd: RunData, res: dict[str, Any]) -> list[str]:
    """``RunGRPCTest``'s lines (fortio prints the keys in the order it met them; here sorted), All done."""
    which = "Ping" if rd.options.ping else "Health"
    lines = [f"Jitter: {_tf(rd.options.jitter)}"]
    lines += [f"{which} {k} : {n}" for k, n in res["RetCodes"].items()]
    return [*lines, _all_done(rd, res)]


def _all_done(rd: RunData, res: dict[str, Any]) -> str:
    """The last line; the warmup count is the -c flag, whatever -s (fortio_main.go)."""
    dh = res["DurationHistogram"]
    warmup = 0 if rd.plan.exactly > 0 else rd.options.num_threads
    return (f"All done {dh['Count']} calls (plus {warmup} warmup) {1000.0 * dh['Avg']:.3f} ms avg, "
            f"{res['ActualQPS']:.1f} qps")


def _counter_line(hdata: dict[str, Any], msg: str) -> str:
    c = Counter()
    c.count, c.min, c.max, c.sum = hdata["Count"], hdata["Min"], hdata["Max"], hdata["Sum"]
    avg, sd = hdata["Avg"], hdata["StdDev"]
    return (
        f"{msg} : count {c.count} avg {go_g(avg, 8)} +/- {go_g(sd, 4)} min {go_g(c.min)} max {go_g(c.max)} "
        f"sum {go_g(c.sum, 9)}"
    )


def _tf(b: bool) -> str:
    return "true" if b else "false"
