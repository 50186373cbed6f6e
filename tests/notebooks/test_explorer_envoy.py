"""The explorer against real Envoy: moving a DR knob and pressing Run applies a generated, validated
DestinationRule to the lab, and the run's counters show the new rule at work."""

from __future__ import annotations

import os

import pytest

from lablib.labs.circuit_breaking import BreakerExplorer, BreakerKnobs, knob_theory
from lablib.notebook import MANIFESTS, checks

CLUSTER = "outbound|80||service-go.default.svc.cluster.local"
BASE = [MANIFESTS / "service/go/service-go.yaml", MANIFESTS / "istio/route/virtual-service-go.yaml"]
PENDING_DR = MANIFESTS / "istio/resilience/destination-rule-go-cb-pending.yaml"


@pytest.fixture
def lab(lab_env, monkeypatch):
    from lablib.lab import Lab

    for key in ("LABLIB_HOME", "LABLIB_BACKEND"):
        monkeypatch.setenv(key, lab_env[key])
    lab = Lab(backend="embedded", name=f"explorer-{os.getpid()}", workers=2)
    try:
        for path in [*BASE, MANIFESTS / "kubernetes/fortio.yaml", PENDING_DR]:
            lab.apply(path)
        yield lab
    finally:
        lab.cleanup()
        lab.close()


@pytest.mark.envoy
def test_run_applies_changed_knobs_and_the_counters_follow(lab):
    pending = BreakerKnobs(http1_max_pending_requests=10)
    ex = BreakerExplorer(
        lab,
        theory_for=knob_theory([*BASE, PENDING_DR], sim_repeats=0),
        knobs=pending,
        cluster=CLUSTER,
        applied=pending,
    )
    ex.concurrency.value = 40
    first = ex.run()  # the lab's rule: 10 active + 10 pending
    assert first.share_503 > 0.2 and first.overflows["upstream_rq_pending_overflow"] > 0

    ex.max_pending.value = 0  # unset: the queue becomes unlimited, the theory's L goes to infinity
    assert "theory L = inf" in ex.status.value
    second = ex.run()
    assert ex.knobs == BreakerKnobs() and second.overflows["upstream_rq_pending_overflow"] == 0
    assert second.share_503 < first.share_503
    assert checks.breaker_applied(
        lab.proxy_config("cluster"), cluster=CLUSTER, expect={"max_pending_requests": 2**32 - 1}
    )
    assert [t for t in ex.figure.data if t.name.startswith("ours: explorer")][-1].x == (40,)
