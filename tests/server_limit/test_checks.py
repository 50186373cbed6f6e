"""Lab 06's Step 1 and explorer checks allow what Envoy does: a limit exceeded for a moment by one request per
other worker of the server sidecar (check, then count: ``lablib.theory.limits.race_slack``), no more."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from lablib.labs.the_server_protects_itself import checks
from lablib.theory.limits import race_slack

LIMIT = 15


@dataclass
class Run:
    """What the checks read of a ``ServerRun`` (duck-typed: the checks only read these)."""

    clients: int
    server_peak: int
    admitted: int
    server_overflows: int = 0
    upstream_503: int = 0
    calls: int = 300
    limit: int = LIMIT
    run: Any = field(default=None)

    def __post_init__(self) -> None:
        result = SimpleNamespace(codes={200: self.calls - self.upstream_503, 503: self.upstream_503})
        self.run = SimpleNamespace(points={"fortio": SimpleNamespace(result=result)})


def test_race_slack_is_one_per_other_worker():
    assert [race_slack(w) for w in (1, 2, 4)] == [0, 1, 3]


@pytest.mark.parametrize(("peak", "workers", "ok"), [(15, 1, True), (16, 1, False), (16, 2, True),
                                                     (17, 2, False), (18, 4, True)])
def test_the_server_limit_holds_with_the_race_slack_only(peak: int, workers: int, ok: bool):
    runs = {1: Run(1, server_peak=10, admitted=10),
            3: Run(3, server_peak=peak, admitted=30, server_overflows=40, upstream_503=40)}
    check = checks.server_limit_holds(runs, LIMIT, workers=workers)
    assert check.ok is ok, check
    explorer = checks.explorer_ran([runs[3]], workers=workers, lang="zh")
    assert explorer.ok is ok, explorer
    assert f"+{race_slack(workers)}" in str(check.title)
