"""Outlier detection on real Envoy: what the lab teaches, measured through the client sidecar.

Times are short (interval 1s, baseEjectionTime 2-3s) so the module runs in about 30 s. Assertions are the
robust properties the lab's checks state: ejection after the configured consecutive 5xx (plus Envoy's slack of
a few requests in flight), return after baseEjectionTime plus at most one interval, 503 UH when every host is
out, maxEjectionPercent 50 keeping one of two hosts in.
"""

from __future__ import annotations

import pytest

from lablib.labs.outlier_detection import LAB, SEED, Fault, checks, experiment, stop_after

pytestmark = pytest.mark.envoy

BASE = LAB.replace(base_ejection_time="3s", interval="1s")
BOTH = (Fault("service-go-v1"), Fault("service-go-v2"))


def test_ejected_after_three_consecutive_5xx_and_back_after_base_ejection_time(lab, rule_path):
    tl = experiment(lab, BASE, rule_path=rule_path, duration_s=12, heal_at_s=2.0,
                    until=stop_after("returned", plus_s=0.5))
    ejected = checks.ejected_after(tl, 3)
    assert ejected.ok, ejected
    (event,) = tl.events("ejected")
    assert event.address in tl.addresses() and len(tl.addresses()) == 2
    back = checks.returned_after(tl, 3.0, 1.0)
    assert back.ok, back
    # Only the failing pod was ejected, and the cluster says so too.
    assert tl.stat_delta("outlier_detection.ejections_enforced_consecutive_5xx") == 1
    assert max(v for _, v in tl.stat_series("outlier_detection.ejections_active")) == 1


def test_seed_consecutive_errors_is_ignored_envoy_default_five_applies(lab, rule_path):
    seed_short = SEED.replace(interval="1s", base_ejection_time="3s")
    tl = experiment(lab, seed_short, rule_path=rule_path, duration_s=6,
                    until=stop_after("ejected", plus_s=0.3))
    (event,) = tl.events("ejected")
    errors = tl.errors_before_ejection(event)
    assert errors is not None and 5 <= errors <= 8, f"{errors} errors before ejection, expected 5 (+slack)"


def test_all_hosts_ejected_gives_503_no_healthy_upstream(lab, rule_path):
    tl = experiment(lab, BASE, rule_path=rule_path, faults=BOTH, duration_s=6,
                    until=stop_after("ejected", count=2, plus_s=1.5))
    check = checks.all_ejected_uh(tl, 2)
    assert check.ok, check
    flags = tl.flag_totals()
    assert flags.get("UH", 0) > 0, f"no 503 UH seen in the access log: {flags}"


def test_max_ejection_percent_50_keeps_one_of_two_hosts(lab, rule_path):
    tl = experiment(lab, BASE.replace(max_ejection_percent=50), rule_path=rule_path, faults=BOTH,
                    duration_s=2.5)
    check = checks.max_ejection_kept(tl, 2, 50)
    assert check.ok, check
    assert "UH" not in tl.flag_totals()  # one host always takes the traffic (and answers its own 503s)


def test_gateway_errors_ignore_500_and_500s_are_not_retried(lab, rule_path):
    gateway_only = BASE.replace(consecutive_5xx_errors=0, consecutive_gateway_errors=3)
    tl = experiment(lab, gateway_only, rule_path=rule_path, faults=[Fault(code=500)], duration_s=2.0)
    assert checks.never_ejected(tl, "500 is not a gateway error").ok
    assert checks.retries_hide(tl, 500).ok
    assert tl.code_totals().get(500, 0) > 0


def test_breaker_overflows_do_not_eject(lab, rule_path):
    tight = BASE.replace(connection_pool={"tcp": {"maxConnections": 1},
                                          "http": {"http1MaxPendingRequests": 1, "http2MaxRequests": 1}})
    tl = experiment(lab, tight, rule_path=rule_path, faults=[], duration_s=2.0, qps=200, connections=8)
    check = checks.overflow_not_counted(tl)
    assert check.ok, check
    assert tl.flag_totals().get("UO", 0) > 0
