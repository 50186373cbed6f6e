"""The ``fortio load`` command: flags in, text on stderr, JSON on stdout or a file, a FortioResult back.

Shared by ``python -m lablib.fortio load …`` and the Python call :func:`load`, so both print the
same lines and write the same JSON.
"""

from __future__ import annotations

import http.client
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from lablib._exceptions import FortioError, FortioUsageError
from lablib.fortio.engine import Shared, log_line
from lablib.fortio.flags import ParsedArgs, parse_args
from lablib.fortio.http_client import build_target
from lablib.fortio.options import USER_AGENT, VERSION
from lablib.fortio.periodic import RunPlan
from lablib.fortio.reader import read_result
from lablib.fortio.report import start_lines, summary_lines
from lablib.fortio.result import FortioResult
from lablib.fortio.results import go_json, results_json
from lablib.fortio.runner import resolve, run_load
from lablib.fortio.stats import go_duration, go_g
from lablib.i18n import Msg

__all__ = ["ProgressCallback", "curl", "load"]

#: ``progress(done, total, message)``: for ``-n`` runs done/total are calls; for ``-t`` runs they are
#: elapsed/requested milliseconds (total 0 when the run is endless); message is a short status text.
ProgressCallback = Callable[[int, int, str], None]

_PROGRESS_LOG_PERIOD_S = 1.0  # JSON progress lines on stderr: at most one a second
_PROGRESS_CB_PERIOD_S = 0.1  # Python callback: at most ten a second


def _split(args: str | Sequence[str]) -> list[str]:
    return shlex.split(args) if isinstance(args, str) else [str(a) for a in args]


def load(
    args: str | Sequence[str],
    *,
    connect_to: tuple[str, int] | None = None,
    progress: ProgressCallback | None = None,
    stderr: TextIO | None = None,
    stdout: TextIO | None = None,
) -> FortioResult:
    """Run ``fortio load`` with fortio's flags and return the run as a :class:`FortioResult`.

    ``args`` is what follows ``fortio`` on a command line, with or without the leading ``load``:
    ``load(\"-c 3 -qps 0 -n 30 http://service-go/env\")``. ``connect_to=(host, port)`` dials there but
    keeps the URL's host in the Host header and the JSON, like a pod whose traffic Istio redirects to
    its sidecar. fortio's text goes to ``stderr`` (default ``sys.stderr``); ``-json -`` writes the
    JSON to ``stdout`` (default ``sys.stdout``). Safe to call from a Jupyter cell: the run has its own
    event loop in a worker thread.

    Raises FortioUsageError for bad flags or URL, FortioError when the run cannot be done (unknown
    host, nothing listening, warmup error without ``-allow-initial-errors``).
    """
    parsed = parse_args(_split(args), connect_to=connect_to)
    err = stderr if stderr is not None else sys.stderr
    out = stdout if stdout is not None else sys.stdout
    if parsed.curl:
        if parsed.options.h2 or parsed.options.grpc:
            raise FortioUsageError(Msg("fortio.url.curl_protocol"))
        return _curl_result(parsed, err, out)
    return _run(parsed, err, out, progress)


def _run(parsed: ParsedArgs, err: TextIO, out: TextIO, progress: ProgressCallback | None) -> FortioResult:
    o = parsed.options.normalized()
    target_url = o.url if "://" in o.url or o.grpc else "http://" + o.url  # gRPC: the destination as given
    state = {"last_log": 0.0, "last_cb": 0.0, "plan": None}

    def on_start(plan: RunPlan) -> None:
        state["plan"] = plan
        for line in start_lines(o, plan, target_url):
            print(line, file=err)
        if o.level_at_most("warning"):
            for w in plan.warnings:
                print(log_line("warn", w), file=err)
        err.flush()

    def on_tick(shared: Shared, plan: RunPlan) -> None:
        logs = shared.drain_log()
        for line in logs:
            print(line, file=err)
        now = time.monotonic()
        final = shared.phase == "done"
        if shared.phase not in ("run", "done") or state.get("final_sent"):
            return
        state["final_sent"] = final
        if plan.total_calls is not None:
            done, total = shared.done, plan.total_calls
            msg = Msg("fortio.command.progress_calls", done=shared.done, total=plan.total_calls)
        else:
            elapsed = max(now - shared.run_start, 0.0) if shared.run_start else 0.0
            total = int(plan.duration_s * 1000) if plan.duration_s > 0 else 0
            done = min(int(elapsed * 1000), total) if total else int(elapsed * 1000)
            if final and total:
                done = total
            msg = Msg("fortio.command.progress_time", calls=shared.done, elapsed=elapsed)
        if o.level_at_most("info") and (final or now - state["last_log"] >= _PROGRESS_LOG_PERIOD_S):
            state["last_log"] = now
            print(log_line("info", "progress", done=done, total=total, calls=shared.done), file=err)
            err.flush()
        if progress is not None and (final or now - state["last_cb"] >= _PROGRESS_CB_PERIOD_S):
            state["last_cb"] = now
            progress(done, total, msg)

    rd = run_load(o, on_tick=on_tick, on_start=on_start)
    res = results_json(rd)
    if o.level_at_most("info"):
        for i, t in enumerate(rd.threads):
            qps = t.calls / (t.ended_ns / 1e9) if t.ended_ns else 0.0
            msg = f"T{i:03d} ended after {go_duration(t.ended_ns)} : {t.calls} calls. qps={go_g(qps)}"
            print(log_line("info", msg), file=err)
    if o.level_at_most("warning"):
        for t in rd.threads:
            for w in t.warnings:
                print(log_line("warn", w), file=err)
    for line in summary_lines(rd, res):
        print(line, file=err)
    if parsed.json_path:
        text = go_json(res) + "\n"  # json.MarshalIndent(res, "", "  ") + "\n", as fortio writes it
        if parsed.json_path == "-":
            out.write(text)
            out.flush()
            where = "stdout"
        else:
            try:
                with open(parsed.json_path, "w", encoding="utf-8") as f:
                    f.write(text)
            except OSError as e:
                raise FortioError(Msg("fortio.command.json_write", path=parsed.json_path,
                                      err=e.strerror)) from None
            where = parsed.json_path
        print(f"Successfully wrote {len(text.encode())} bytes of Json data to {where}", file=err)
    err.flush()
    count = res["DurationHistogram"]["Count"]
    if count and res["RetCodes"].get("-1") == count:
        where = {"count": count, "host": rd.target.connect_host, "port": rd.target.connect_port,
                 "url": rd.target.url}
        if o.h2:  # the likely cause differs: a server without h2c
            raise FortioError(Msg("fortio.command.all_socket_errors_h2", **where))
        raise FortioError(Msg("fortio.command.all_socket_errors", **where))
    return read_result(res)


def curl(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    timeout_s: float = 3.0,
    connect_to: tuple[str, int] | None = None,
) -> tuple[int, str, bytes]:
    """One GET like ``fortio load -curl``: (code, status line + headers text, body)."""
    tgt = build_target(url, headers=list(headers), user_agent=USER_AGENT, connect_to=connect_to)
    ip = resolve(tgt.connect_host, tgt.connect_port)
    conn = http.client.HTTPConnection(ip, tgt.connect_port, timeout=timeout_s)
    try:
        conn.putrequest("GET", tgt.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", tgt.host_header)
        conn.putheader("User-Agent", USER_AGENT)
        for k, v in headers:
            if k.lower() not in ("host", "user-agent"):
                conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
    except OSError as e:
        raise FortioError(Msg("fortio.command.curl_fetch", url=tgt.url, ip=ip, port=tgt.connect_port,
                              err=str(e))) from None
    except http.client.HTTPException as e:
        raise FortioError(Msg("fortio.command.curl_response", url=tgt.url, err=repr(e))) from None
    finally:
        conn.close()
    version = "HTTP/1.1" if resp.version == 11 else "HTTP/1.0"
    head = (
        f"{version} {resp.status} {resp.reason}\n"
        + "".join(f"{k}: {v}\n" for k, v in resp.getheaders())
        + "\n"
    )
    return resp.status, head, body


def _curl_result(parsed: ParsedArgs, err: TextIO, out: TextIO) -> FortioResult:
    o = parsed.options
    t0 = time.perf_counter()
    code, head, body = curl(o.url, headers=o.headers, timeout_s=o.timeout_s, connect_to=o.connect_to)
    latency = time.perf_counter() - t0
    err.write(head)
    err.flush()
    try:
        out.write(body.decode("utf-8", errors="replace"))
        out.flush()
    except (AttributeError, ValueError):
        pass
    url = o.url if "://" in o.url else "http://" + o.url
    return FortioResult(
        codes={code: 1},
        count=1,
        num_threads=1,
        qps=1 / latency if latency else 0.0,
        requested_qps=0.0,
        duration_s=latency,
        avg_s=latency,
        min_s=latency,
        max_s=latency,
        stddev_s=0.0,
        percentiles={},
        sockets=1,
        sockets_per_thread=[1],
        histogram=None,
        errors_histogram=None,
        url=url,
        labels=o.labels,
        version=VERSION,
        source="lablib",
        raw=None,
        exactly=1,
    )
