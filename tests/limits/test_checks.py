"""Lab 03's check of the workers step against theory's band, on made-up points (no Envoy): where it passes
and fails, and what it tells the student."""

from __future__ import annotations

from pathlib import Path

import pytest

from lablib.labs import where_the_limit_lives as limits
from lablib.labs.where_the_limit_lives import checks
from lablib.labs.where_the_limit_lives.experiment import LimitPoint
from lablib.theory import limit_band
from tests.notebooks.conftest import make_result


def _peak(admitted: int) -> LimitPoint:
    return LimitPoint("", 40, make_result({200: 400}, c=40), {}, admitted_peak=admitted)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_band_top_is_passed_only_by_one_request_per_other_worker(workers: int, tmp_path: Path) -> None:
    # the workers step's rule: 10 connections, 10 waiting; the pending count is checked, then incremented
    bands = {workers: limits.route_limits("none", workers=workers, rule=limits.worker_rule(tmp_path))}
    low, high = limit_band(bands[workers])
    race = workers - 1
    at = {seen: checks.within_worker_band({workers: [_peak(seen)]}, bands).ok
          for seen in (int(low) - 2, int(low) - 1, int(high) + race + 1, int(high) + race + 2)}
    assert list(at.values()) == [False, True, True, False], (low, high, at)


def test_the_detail_says_how_far_the_top_may_be_passed_for_a_moment(tmp_path: Path) -> None:
    bands = {4: limits.route_limits("none", workers=4, rule=limits.worker_rule(tmp_path))}
    seen = {4: [_peak(30)]}  # two pods behind the book's route: 10 + 10 waiting + 2 hosts x 4 workers
    assert checks.within_worker_band(seen, bands).detail == "4 worker(s): 30 (band 20–28, +3 for a moment)"
    zh = checks.within_worker_band(seen, bands, lang="zh").detail
    assert zh == "4 个工作线程：30（区间 20–28，瞬间可多 3 个）"
