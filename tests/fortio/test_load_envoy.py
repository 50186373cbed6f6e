"""The generator against real Envoy: splitting, fortio's socket rules, warmup, breaker 503s, JSON and text."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from lablib._exceptions import FortioError
from lablib.fortio import curl, load, read_result
from lablib.fortio.http_client import code_is_ok
from lablib.fortio.results import results_json
from lablib.fortio.runner import LoadOptions, run_load
from lablib.fortio.stats import calc_percentiles

pytestmark = pytest.mark.envoy

FIXTURES = Path(__file__).parent / "fixtures"


def _quiet(args: str, **kw):
    err = io.StringIO()
    r = load(args, stderr=err, **kw)
    return r, err.getvalue()


def _delta(envoy, names, fn):
    before = envoy.stats()
    out = fn()
    after = envoy.stats()
    return out, {n: after.get(n, 0) - before.get(n, 0) for n in names}


def test_503s_cost_a_socket_each_and_the_split_gives_thread_0_the_leftover(envoy):
    url = f"http://127.0.0.1:{envoy.ports['fail']}/env"
    r, d = _delta(
        envoy,
        ["http.fail.downstream_rq_total", "http.fail.downstream_cx_total"],
        lambda: _quiet(f"load -c 3 -qps 0 -n 31 -loglevel Error {url}")[0],
    )
    assert r.codes == {503: 31} and r.count == 31
    # every 503 closes the thread's socket; the next call dials again; the last close needs no dial
    assert r.sockets_per_thread == [11, 10, 10] and r.sockets == 31
    assert d == {"http.fail.downstream_rq_total": 31, "http.fail.downstream_cx_total": 31}
    raw = r.raw
    assert raw["ErrorsDurationHistogram"]["Count"] == 31
    assert raw["HeaderSizes"]["Max"] == 0  # reading stops at the status code


def test_2xx_keeps_one_socket_per_thread(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/env"
    r, d = _delta(
        envoy,
        ["http.ok.downstream_rq_total", "http.ok.downstream_cx_total"],
        lambda: _quiet(f"load -c 3 -qps 0 -n 31 -loglevel Error {url}")[0],
    )
    assert r.codes == {200: 31} and r.sockets_per_thread == [1, 1, 1]
    assert d == {"http.ok.downstream_rq_total": 31, "http.ok.downstream_cx_total": 3}
    sizes, headers = r.raw["Sizes"], r.raw["HeaderSizes"]
    assert sizes["Min"] - headers["Min"] == len(curl(url)[2])  # total = headers + body
    assert r.raw["ErrorsDurationHistogram"] == {
        "Count": 0,
        "Min": 0.0,
        "Max": 0.0,
        "Sum": 0.0,
        "Avg": 0.0,
        "StdDev": 0.0,
        "Data": None,
    }


def test_204_has_no_body_and_keeps_the_socket(envoy):
    r, _ = _quiet(
        f"load -c 1 -qps 0 -n 5 -timeout 2s -loglevel Error http://127.0.0.1:{envoy.ports['nocontent']}/"
    )
    assert r.codes == {204: 5} and r.sockets == 1 and r.max_s < 1.0


def test_keepalive_false_uses_one_socket_per_call(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    r, _ = _quiet(f"load -c 2 -qps 0 -n 10 -keepalive=false -loglevel Error {url}")
    assert r.codes == {200: 10} and r.sockets == 10


def test_breaker_overflow_503s_match_envoys_counter_and_the_socket_rule(envoy, slow_backend):
    url = f"http://127.0.0.1:{envoy.ports['breaker']}/env"
    opts = LoadOptions(url=url, num_threads=3, qps=0, exactly=45, loglevel="Error")
    before_backend = slow_backend.requests
    rd, d = _delta(
        envoy,
        [
            "cluster.slow.upstream_rq_pending_overflow",
            "http.breaker.downstream_rq_total",
            "http.breaker.downstream_rq_5xx",
        ],
        lambda: run_load(opts),
    )
    res = results_json(rd)
    codes = {int(k): v for k, v in res["RetCodes"].items()}
    assert set(codes) == {200, 503}, codes  # 1 active + 1 pending at most, so a third thread overflows
    assert codes[503] == d["cluster.slow.upstream_rq_pending_overflow"] == d["http.breaker.downstream_rq_5xx"]
    assert codes[200] == slow_backend.requests - before_backend
    assert d["http.breaker.downstream_rq_total"] == 45 == sum(codes.values())
    for t, sockets in zip(rd.threads, res["Sockets"], strict=True):
        non_ok = sum(n for c, n in t.codes.items() if not code_is_ok(c))
        assert sockets == 1 + non_ok - (0 if code_is_ok(t.last_code) else 1)
        assert sum(t.codes.values()) == 15
    assert res["SocketCount"] == sum(res["Sockets"])


def test_envoy_overflow_replies_carry_x_envoy_overloaded(envoy, slow_backend):
    port = envoy.ports["breaker"]
    held = []
    try:
        for _ in range(2):  # one active request and one pending fill max_requests 1 / max_pending_requests 1
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /hold?delay=0.6 HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(s)
            time.sleep(0.05)
        code, head, _ = curl(f"http://127.0.0.1:{port}/env")
        assert code == 503
        assert "x-envoy-overloaded: true" in head.lower()
    finally:
        for s in held:
            s.close()


def test_duration_mode_warms_up_one_unrecorded_call_per_thread(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    (r, text), d = _delta(
        envoy,
        ["http.ok.downstream_rq_total"],
        lambda: _quiet(f"load -c 2 -qps 0 -t 300ms -loglevel Warning {url}"),
    )
    assert d["http.ok.downstream_rq_total"] == r.count + 2
    assert r.exactly == 0 and r.raw["RequestedDuration"] == "300ms" and r.sockets == 2
    assert re.search(rf"All done {r.count} calls \(plus 2 warmup\)", text)
    assert 0.29 < r.duration_s < 2.0


def test_warmup_error_aborts_unless_allowed(envoy):
    url = f"http://127.0.0.1:{envoy.ports['fail']}/"
    before = envoy.stats()["http.fail.downstream_rq_total"]
    with pytest.raises(
        FortioError, match=r"Aborting because of error 503 for http://127\.0\.0\.1:\d+/ \(\d+ bytes\)"
    ):
        _quiet(f"load -c 2 -qps 0 -t 200ms {url}")
    assert envoy.stats()["http.fail.downstream_rq_total"] - before == 2  # only the warmup calls were made
    r, _ = _quiet(f"load -c 2 -qps 0 -t 200ms -allow-initial-errors -loglevel Error {url}")
    assert set(r.codes) == {503}
    # the warmup 503 closed each thread's first socket: one more dial per thread than recorded calls
    assert r.sockets == r.count + 2


def test_n_below_c_reproduces_fortios_n_plus_c_minus_1_and_warns(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    r, text = _quiet(f"load -c 3 -qps 0 -n 2 -loglevel Warning {url}")
    assert r.count == 4 and r.codes == {200: 4}
    assert "N+C-1" in text and "interrupted after 4" in r.raw["RequestedDuration"]


def test_paced_mode_spreads_calls(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    r, text = _quiet(f"load -c 2 -qps 100 -n 20 -loglevel Warning {url}")
    # 10 calls per thread at 50 qps per thread: the last one is scheduled at (9 + 9/9)/50 = 0.2 s
    assert r.count == 20 and 0.19 < r.duration_s < 1.5
    assert r.raw["RequestedQPS"] == "100"
    assert "Starting at 100 qps with 2 thread(s)" in text and "\nSleep times : count 18 " in text


def test_connect_to_keeps_the_urls_host(slow_backend):
    before = len(slow_backend.hosts)
    r, _ = _quiet(
        "load -c 1 -qps 0 -n 3 -loglevel Error http://service-go/env",
        connect_to=("127.0.0.1", slow_backend.port),
    )
    assert r.codes == {200: 3} and r.url == "http://service-go/env"
    assert r.labels.startswith("service-go/env , ")
    assert slow_backend.hosts[before:] == ["service-go"] * 3
    assert list(r.raw["IPCountMap"]) == [f"127.0.0.1:{slow_backend.port}"]


class _ClosingServer:
    """Answers one 200 per connection (with Content-Length, no Connection: close), then closes."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with c:
                c.settimeout(1)
                try:
                    if c.recv(4096):
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def test_dead_socket_is_redialed_and_the_call_retried_silently():
    srv = _ClosingServer()
    try:
        r, _ = _quiet(f"load -c 1 -qps 0 -n 6 -loglevel Error http://127.0.0.1:{srv.port}/")
    finally:
        srv.close()
    assert r.codes == {200: 6}  # no error: the retry is transparent
    assert r.sockets == 6  # but each call after the first needed a new socket


def test_timeout_gives_code_minus_1():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (kernel backlog) but never answers
    try:
        opts = LoadOptions(
            url=f"http://127.0.0.1:{silent.getsockname()[1]}/",
            num_threads=1,
            qps=0,
            exactly=2,
            timeout_s=0.2,
            loglevel="Error",
        )
        rd = run_load(opts)
    finally:
        silent.close()
    res = results_json(rd)
    assert res["RetCodes"] == {"-1": 2}
    assert 0.2 <= res["DurationHistogram"]["Min"] < 1.0


def test_nothing_listening_is_a_clear_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(
        FortioError, match=r"every call \(3\) failed with a socket error connecting to 127\.0\.0\.1"
    ):
        _quiet(f"load -c 1 -qps 0 -n 3 http://127.0.0.1:{port}/")
    with pytest.raises(FortioError, match=r"Aborting because of error -1 .*during warmup"):
        _quiet(f"load -c 1 -qps 0 -t 1s http://127.0.0.1:{port}/")


def test_json_keys_follow_real_fortios_order(envoy):
    url = f"http://127.0.0.1:{envoy.ports['fail']}/"
    out = io.StringIO()
    r = load(f"load -c 2 -qps 0 -n 4 -json - -loglevel Error {url}", stderr=io.StringIO(), stdout=out)
    ours = json.loads(out.getvalue())
    real = json.loads((FIXTURES / "fortio-1.57.3-result.json").read_text())
    assert list(ours) == list(real)
    for key in ("DurationHistogram", "ConnectionStats", "Sizes"):
        assert list(ours[key]) == list(real[key])
    assert list(ours["DurationHistogram"]["Data"][0]) == ["Start", "End", "Percent", "Count"]
    assert isinstance(ours["ActualDuration"], int) and ours["HTTPReqTimeOut"] == 3_000_000_000
    assert ours["RequestedQPS"] == "max" and ours["RequestedDuration"] == "exactly 4 calls"
    assert r.source == "lablib" and read_result(ours) == r
    # our percentiles follow from our buckets by fortio's rule
    dh = ours["DurationHistogram"]
    assert calc_percentiles(dh, [p["Percentile"] for p in dh["Percentiles"]]) == dh["Percentiles"]
    assert sum(b["Count"] for b in dh["Data"]) == dh["Count"] == 4


def test_json_file_and_stdout_message(envoy, tmp_path):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    path = tmp_path / "run.json"
    r, text = _quiet(f"load -c 1 -qps 0 -n 3 -json {path} -loglevel Error {url}")
    assert read_result(path) == r
    assert f"Successfully wrote {path.stat().st_size} bytes of Json data to {path}" in text


_WARNING_LINES = [
    r"Fortio \S+ running at 0 queries per second, \d+->\d+ procs, for 10 calls: http://127\.0\.0\.1:\d+/env",
    r"Starting at max qps with 2 thread\(s\) \[gomax \d+\] for exactly 10 calls \(5 per thread \+ 0\)",
    r"Ended after [\d.]+(?:µs|ms|s) : 10 calls\. qps=[\d.e+]+",
    r"Aggregated Function Time : count 10 avg \S+ \+/- \S+ min \S+ max \S+ sum \S+",
    r"# range, mid point, percentile, count",
    r">= \S+ <= \S+ , \S+ , [\d.]+, \d+",
    r"(?:> \S+ <= \S+ , \S+ , [\d.]+, \d+\n)*",
    r"# target 50% \S+",
    r"# target 75% \S+",
    r"# target 90% \S+",
    r"# target 99% \S+",
    r"# target 99\.9% \S+",
    r"Error cases : no data",
    r"# Socket and IP used for each connection:",
    r"\[0\]   1 socket used, resolved to 127\.0\.0\.1:\d+, connection timing : count 1 avg \S+ "
    r"\+/- 0 min \S+ "
    r"max \S+ sum \S+",
    r"\[1\]   1 socket used, resolved to 127\.0\.0\.1:\d+, connection timing : count 1 avg .* sum \S+",
    r"Connection time \(s\) : count 2 avg \S+ \+/- \S+ min \S+ max \S+ sum \S+",
    r"Sockets used: 2 \(for perfect keepalive, would be 2\)",
    r"Uniform: false, Jitter: false, Catchup allowed: true",
    r"IP addresses distribution:",
    r"127\.0\.0\.1:\d+: 2",
    r"Code 200 : 10 \(100\.0 %\)",
    r"Response Header Sizes : count 10 avg (?P<h>\d+) \+/- 0 min (?P=h) max (?P=h) sum \d+",
    r"Response Body/Total Sizes : count 10 avg (?P<t>\d+) \+/- 0 min (?P=t) max (?P=t) sum \d+",
    r"All done 10 calls \(plus 0 warmup\) [\d.]+ ms avg, [\d.]+ qps",
]


def test_text_summary_line_by_line_at_loglevel_warning(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/env"
    _, text = _quiet(f"load -c 2 -qps 0 -n 10 -loglevel Warning {url}")
    lines = [x for x in text.splitlines() if not x.startswith("{")]  # JSON log lines are not the summary
    pattern = ""
    for p in _WARNING_LINES:
        pattern += p if p.endswith("*") else p + "\n"
    assert re.fullmatch(pattern, "\n".join(lines) + "\n"), "\n".join(lines)


def test_text_at_loglevel_error_is_the_books_short_form(envoy):
    url = f"http://127.0.0.1:{envoy.ports['fail']}/env"
    _, text = _quiet(f"load -c 2 -qps 0 -n 10 -loglevel Error {url}")
    lines = text.splitlines()
    assert lines[1].startswith("Aggregated Function Time : count 10 ")
    assert [x.split(" ")[1] for x in lines[2:7]] == ["target"] * 5
    assert not any(x.startswith(("{", "Ended after", "# range", "Response")) for x in lines)
    assert "Code 503 : 10 (100.0 %)" in lines and lines[-1].startswith("All done 10 calls (plus 0 warmup)")
    # and our own text reads back like fortio's
    r = read_result(text)
    assert r.codes == {503: 10} and r.sockets == 10 and r.num_threads == 2


def test_progress_callback_and_json_progress_lines(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    seen: list[tuple[int, int, str]] = []
    err = io.StringIO()
    load(
        f"-c 2 -qps 0 -n 3000 -loglevel Info {url}",
        progress=lambda d, t, m: seen.append((d, t, m)),
        stderr=err,
    )
    assert seen[-1][:2] == (3000, 3000)
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    logs = [json.loads(x) for x in err.getvalue().splitlines() if x.startswith("{")]
    progress = [x for x in logs if x["msg"] == "progress"]
    assert progress and progress[-1]["done"] == 3000 and progress[-1]["total"] == 3000
    assert list(progress[-1])[:3] == ["ts", "level", "msg"]


def test_callable_from_inside_a_running_event_loop(envoy):
    """A Jupyter kernel already runs an asyncio loop in the caller's thread."""
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"

    async def cell():
        return load(f"-c 2 -qps 0 -n 20 -loglevel Error {url}", stderr=io.StringIO())

    r = asyncio.run(cell())
    assert r.codes == {200: 20}


def test_several_worker_processes_with_warmup_barrier(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    (r, text), d = _delta(
        envoy,
        ["http.ok.downstream_rq_total"],
        lambda: _quiet(f"load -c 4 -qps 0 -t 300ms -lablib-procs 2 -loglevel Warning {url}"),
    )
    assert set(r.codes) == {200} and r.sockets_per_thread == [1, 1, 1, 1]
    assert d["http.ok.downstream_rq_total"] == r.count + 4 and "(plus 4 warmup)" in text


def test_several_worker_processes_merge_like_one(envoy):
    url = f"http://127.0.0.1:{envoy.ports['fail']}/"
    r, _ = _quiet(f"load -c 4 -qps 0 -n 41 -lablib-procs 2 -loglevel Error {url}")
    assert r.codes == {503: 41} and r.sockets_per_thread == [11, 10, 10, 10]
    assert sum(b.count for b in r.histogram) == 41
