"""Environment presets, the published outputs they carry, the client pinning, and lab 04's tables and checks
(pure parts; tests/mesh/test_fidelity.py runs the presets on real Envoy)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lablib._exceptions import LabError
from lablib.labs.reproducing_published_runs.client_cpu import pinned
from lablib.labs.reproducing_published_runs.presets import PRESETS, preset
from lablib.labs.reproducing_published_runs.reproduce import (
    Replay,
    comparison,
    measured,
    no_503_at_one_thread,
    published,
    rises_with_concurrency,
    sensitivity,
)


def test_presets_name_every_factor_and_files_exist():
    for env in PRESETS.values():
        assert env.rule_path().is_file() and env.service_path().is_file()
        assert set(env.lab_options()) == {"workers", "service_time_ms", "mtls", "reuse_port"}
        for c in env.published_files:
            assert env.published_file(c).is_file()
    task = preset("istio-task")
    assert task.mtls and task.workers == 2 and task.service_time_ms == 1.0
    assert task.fortio_args(3) == "load -c 3 -qps 0 -n 30 -loglevel Warning http://service-go/env"
    book = preset("book")
    assert (book.workers, book.mtls, book.client_cpus) == (1, False, 1)


def test_published_shares_come_from_the_real_fortio_outputs():
    assert published(preset("istio-task"))[3] == pytest.approx(19 / 30)
    assert {c: round(s, 3) for c, s in published(preset("book")).items()} == {20: 0.04, 30: 0.32, 40: 0.4}


def test_bad_names_are_lab_errors_naming_the_choices():
    with pytest.raises(LabError, match="istio-task, book"):
        preset("nope")
    with pytest.raises(LabError, match=r"unknown environment factor.*cpus"):
        preset("book").with_(cpus=1)
    with pytest.raises(LabError, match="published: 20, 30, 40"):
        preset("book").published_file(10)
    assert preset("book").with_(workers=2).workers == 2 and preset("book").workers == 1


def test_comparison_and_checks():
    run = Replay(preset("istio-task"), {1: (0.0, 0.0), 3: (0.6, 0.7)})
    table = comparison(run)
    assert "63.3%" in table.text and "65.0% [60–70] ×2" in table.text and "+1.7" in table.text
    assert no_503_at_one_thread(run).ok and rises_with_concurrency(run).ok
    bad = Replay(preset("istio-task"), {1: (0.1,), 3: (0.05,)})
    assert not no_503_at_one_thread(bad).ok and not rises_with_concurrency(bad).ok
    assert not no_503_at_one_thread(Replay(preset("book"), {20: (0.1,)})).ok
    assert "单个 fortio 线程" in str(no_503_at_one_thread(run, lang="zh"))


def test_sensitivity_from_recorded_rows_and_the_shipped_file():
    data = {"book": [
        {"label": "book preset", "shares": {40: [0.5, 0.6]}, "hold_ms": {40: [50.0]},
         "reject_ms": {40: [5.0]}},
        {"label": "2 workers", "shares": {40: [0.65]}, "hold_ms": {40: [49.0]}, "reject_ms": {40: [3.5]}},
    ]}
    text = sensitivity("book", 40, data=data).text
    assert "+10.0" in text and "55.0% [50–60] ×2" in text
    with pytest.raises(LabError, match="no measured rows for 'task'"):
        sensitivity("task", 3, data=data)
    shipped = measured()
    for experiment, c in (("task", 3), ("book", 40)):
        assert shipped[experiment][0]["shares"][c], f"{experiment}: recorded by bench_fidelity --record"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and 2 CPUs")
def test_pinned_moves_this_thread_and_every_thread_of_a_process_then_restores():
    child = subprocess.Popen([sys.executable, "-c", "import threading,time\n"
                              "[threading.Thread(target=time.sleep, args=(30,), daemon=True).start() "
                              "for _ in range(3)]\ntime.sleep(30)"])
    try:
        time.sleep(0.5)
        before = os.sched_getaffinity(0)
        with pinned([child.pid], 1) as cpus:
            assert len(cpus) == 1 and os.sched_getaffinity(0) == cpus
            tids = [int(t) for t in os.listdir(f"/proc/{child.pid}/task")]
            assert len(tids) >= 4 and all(os.sched_getaffinity(t) == cpus for t in tids)
        assert os.sched_getaffinity(0) == before
        assert all(os.sched_getaffinity(t) == before for t in tids)
        with pytest.raises(LabError, match="cannot pin"), pinned([], 99):
            pass
    finally:
        child.kill()
        child.wait()
