"""Lab 03's explorer on real Envoy: Run applies the route and the client pods (with their sidecars' workers)
only when they changed, runs every client at once and adds the point to its setting's trace in place."""

from __future__ import annotations

import psutil
import pytest

from lablib.labs import where_the_limit_lives as limits
from lablib.labs.where_the_limit_lives.widgets import LimitsExplorer

pytestmark = pytest.mark.envoy


def _concurrency(lab, pod: str) -> int:
    record = next(r for r in lab.backend.pods()[pod].procs if r.role == "sidecar")
    argv = psutil.Process(record.pid).cmdline()
    return int(argv[argv.index("--concurrency") + 1])


def test_run_applies_what_changed_and_adds_the_point_in_place(lab, tmp_path):
    lab.apply(limits.rule_without_ejection(tmp_path))  # as the notebook's explorer: no 3-minute ejections
    explorer = LimitsExplorer(lab, directory=tmp_path, clients=2, concurrency=10, workers=2,
                              calls_per_thread=5)
    first = explorer.run()
    assert set(first.points) == {"fortio-e1-w2", "fortio-e2-w2"}
    assert all(p.result.count == 50 and set(p.result.codes) <= {200, 503} for p in first.points.values())
    pid = lab.backend.pods()["fortio-e1-w2"].procs[0].pid
    explorer.run()  # same setting: same pods, a second point on the same trace
    assert lab.backend.pods()["fortio-e1-w2"].procs[0].pid == pid
    assert [len(tr.x) for tr in explorer.figure.data] == [2]

    explorer.route.value, explorer.clients.value, explorer.workers.value = "50-50", 1, 1
    third = explorer.run()
    # a sidecar's workers are set when its pod is created: new pods for 1 worker, the 2-worker ones deleted
    assert set(third.points) == {"fortio-e1-w1"} and _concurrency(lab, "fortio-e1-w1") == 1
    assert not {"fortio-e1-w2", "fortio-e2-w2"} & set(lab.backend.pods())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert any("|v1|" in c for c in third.points["fortio-e1-w1"].clusters), "the 50/50 route was applied"
    assert [len(tr.x) for tr in explorer.figure.data] == [2, 1]
    assert "data-runs='3'" in explorer.status.value
