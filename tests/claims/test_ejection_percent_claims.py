"""A rule that leaves ``maxEjectionPercent`` out, on real Envoy 1.40 sidecars configured as Istio 1.30 would
(issue 22: lab 02's silent ejection trap).

Istio passes ``maxEjectionPercent`` only when it is > 0, so an absent field (or 0) leaves Envoy's default of
10. ``DetectorImpl::ejectHost`` ejects only if ``100 * (ejected + 1) / hosts <= max_ejection_percent``
(``always_eject_one_host``, which would let the first one go, is an Envoy field Istio does not set). With the
default that is ``hosts >= 10 * (ejected + 1)``: a cluster of fewer than 10 hosts never loses one, however
often it fails; 10 hosts lose exactly one. Each refusal counts in ``outlier_detection.ejections_overflow``,
after ``ejections_detected_consecutive_5xx``: Envoy saw the failing host and declined to eject it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lablib.lab import Lab
from tests.claims._lab import SERVICE, URL, apply_rule, deltas, ejected, embedded_lab, service_go, write

pytestmark = pytest.mark.envoy

COUNTERS = ("outlier_detection.ejections_detected_consecutive_5xx",
            "outlier_detection.ejections_detected_consecutive_gateway_failure",
            "outlier_detection.ejections_overflow", "outlier_detection.ejections_enforced_total")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("claims-ejection-percent")


@pytest.fixture(scope="module")
def lab(home: Path) -> Iterator[Lab]:
    with embedded_lab(home, "claims-ejection-percent", service_time_ms=2) as the_lab:
        yield the_lab


def scale(lab: Lab, home: Path, replicas: int) -> list[str]:
    """service-go's one Deployment with ``replicas`` pods, all healthy; their pod names."""
    docs = list(yaml.safe_load_all(service_go(("v1",))))
    docs[1]["spec"]["replicas"] = replicas  # the Service, then the Deployment
    lab.apply(write(home / "manifests" / "service-go.yaml", yaml.safe_dump_all(docs, sort_keys=False)))
    pods = [f"service-go-v1-{i}" for i in range(replicas)]
    lab.set_fault("service-go-v1", code=200, fraction=0.0)
    return pods


def failing_run(lab: Lab, home: Path, failing: list[str], *, percent: int | None,
                base: str) -> dict[str, int]:
    """Apply an ejecting rule (``maxEjectionPercent`` as given; None: left out), fail ``failing``, send load
    spread over every host by round robin; the outlier counters the run moved."""
    outlier: dict[str, Any] = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": base}
    if percent is not None:
        outlier["maxEjectionPercent"] = percent
    apply_rule(lab, home, outlier=outlier)
    before = lab.stats(SERVICE)
    for pod in failing:
        lab.set_fault(pod, code=503, fraction=1.0)
    try:
        result = lab.fortio(f"load -c 2 -qps 0 -n 200 -quiet {URL}")
    finally:
        lab.set_fault("service-go-v1", code=200, fraction=0.0)
    assert result.codes.get(503, 0) >= 6, f"the failing pods must answer several 503s: {result.codes}"
    time.sleep(0.3)  # an ejection is posted to the main thread: let the last ones land
    return deltas(before, lab.stats(SERVICE), *COUNTERS)


@pytest.mark.parametrize("percent", [None, 0], ids=["left-out", "zero"])
def test_the_default_max_ejection_percent_never_ejects_one_of_two_hosts(lab: Lab, home: Path,
                                                                        percent: int | None) -> None:
    pods = scale(lab, home, 2)
    grew = failing_run(lab, home, pods[:1], percent=percent, base=f"{40 + (percent or 1)}s")
    detected, gateway, refused, enforced = (grew[c] for c in COUNTERS)
    # 100 x (0 + 1) / 2 = 50 > 10: every detection is refused, each time the pod answers 3 more 503s. The
    # gateway-error detector (Envoy's default 5 in a row, never enforced) asks too, and is refused as well.
    assert detected >= 2 and refused == detected + gateway and enforced == 0, grew
    assert not ejected(lab), "one of two hosts was ejected under the default maxEjectionPercent"


def test_the_default_max_ejection_percent_ejects_exactly_one_of_ten_hosts(lab: Lab, home: Path) -> None:
    pods = scale(lab, home, 10)
    grew = failing_run(lab, home, pods[:2], percent=None, base="45s")
    detected, gateway, refused, enforced = (grew[c] for c in COUNTERS)
    # 100 x 1 / 10 = 10 <= 10: the first failing host goes out; 100 x 2 / 10 = 20 > 10: the second stays in.
    # Every other detection (5xx or gateway) is refused; a refused gateway detection ejects nobody anyway.
    assert enforced == 1 and refused >= 1 and detected + gateway == enforced + refused, grew
    out = ejected(lab)
    assert len(out) == 1, f"exactly one host out of ten may be ejected: {out}"
    hosts = lab.backend.pods()
    assert out[0] in {f"127.0.0.1:{hosts[p].port}" for p in pods[:2]}, (out, "is not a failing pod")
