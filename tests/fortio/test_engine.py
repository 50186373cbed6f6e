"""The engine on its own: the warmup rule (pure) and a LoopRun driven directly against real Envoy."""

from __future__ import annotations

import io
import re

import pytest

from lablib._exceptions import FortioError
from lablib.fortio import load
from lablib.fortio.engine import LoopRun, Shared, check_warmup, new_loop
from lablib.fortio.http_client import build_target
from lablib.fortio.options import USER_AGENT, LoadOptions
from lablib.fortio.periodic import plan_run

URL = "http://service-go/env"


def test_warmup_rule_counts_codes_when_all_ok():
    calls = {0: (200, 10), 1: (200, 10), 2: (418, 0)}
    assert check_warmup(calls, URL, allow_initial_errors=False) == {200: 2, 418: 1}


def test_warmup_rule_names_the_first_failing_thread_with_its_size():
    calls = {2: (500, 7), 0: (200, 10), 1: (503, 19)}  # as processes report them: any order
    with pytest.raises(FortioError) as e:
        check_warmup(calls, URL, allow_initial_errors=False)
    assert str(e.value).startswith(f"Aborting because of error 503 for {URL} (19 bytes) during warmup")
    assert "-allow-initial-errors" in str(e.value)


def test_warmup_rule_socket_error_and_allowed_errors():
    with pytest.raises(FortioError, match=r"error -1 .*\(0 bytes\) during warmup"):
        check_warmup({0: (-1, 0)}, URL, allow_initial_errors=False)
    calls = {0: (-1, 0), 1: (503, 9), 2: (503, 9)}
    assert check_warmup(calls, URL, allow_initial_errors=True) == {-1: 1, 503: 2}


def test_warmup_rule_with_no_calls_is_empty():
    assert check_warmup({}, URL, allow_initial_errors=False) == {}


@pytest.mark.envoy
def test_loop_run_alone_warms_up_and_records_against_real_envoy(envoy):
    url = f"http://127.0.0.1:{envoy.ports['fail']}/"
    options = LoadOptions(url=url, num_threads=2, qps=0, exactly=6).normalized()
    plan = plan_run(qps=0, num_threads=2, exactly=6, duration_s=0)
    target = build_target(url, user_agent=USER_AGENT)
    shared, loop = Shared(), new_loop()
    seen = {}

    async def go() -> None:  # the barrier hook: warmup is over, the run has not started
        seen.update(run.warmup_calls())
        assert shared.phase == "warmup" and shared.done == 0

    try:
        run = LoopRun(options, plan, target, [0, 1], shared, loop)
        elapsed_ns = loop.run_until_complete(run.main(do_warmup=True, go=go))
    finally:
        loop.close()
    size = seen[0][1]  # fortio's size: the whole response, headers and body ("overloaded")
    assert seen == {0: (503, size), 1: (503, size)} and size > len("overloaded")
    with pytest.raises(FortioError, match=rf"error 503 for {url} \({size} bytes\)"):
        check_warmup(seen, url, allow_initial_errors=False)
    assert elapsed_ns > 0 and shared.done == 6
    assert [t.data.codes for t in run.threads] == [{503: 3}, {503: 3}]
    assert all(t.data.errors.count == 3 for t in run.threads)


@pytest.mark.envoy
def test_one_and_several_processes_abort_a_failed_warmup_with_the_same_message(envoy):
    url = f"http://127.0.0.1:{envoy.ports['fail']}/"
    messages = []
    for procs in ("", "-lablib-procs 2 "):
        with pytest.raises(FortioError) as e:
            load(f"load -c 2 -qps 0 -t 200ms {procs}{url}", stderr=io.StringIO())
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert re.match(rf"Aborting because of error 503 for {url} \(\d+ bytes\) during warmup", messages[0])
