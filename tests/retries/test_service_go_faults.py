"""service-go's two new fault knobs for lab 05 (issue 21): a latency fault (``delay_ms``, on every
``/env`` call) and independent random failures (``seed``), through the app itself, its ``POST /fault``, the
embedded mesh's ``set_fault`` (real sidecars), the fake backend and the cluster backend's exec command."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from lablib.backends.fake import FakeBackend
from lablib.backends.kind import _plan as kind_plan
from lablib.lab import Lab
from lablib.lab_defaults import MANIFESTS
from lablib.service_go import MAX_DELAY_MS, Fault, ServiceGo


def codes(fault: Fault, n: int) -> list[int | None]:
    return [fault.next_code() for _ in range(n)]


def test_a_seed_draws_each_call_at_random_and_reproducibly() -> None:
    first, again = codes(Fault(503, 0.3, seed=4), 2000), codes(Fault(503, 0.3, seed=4), 2000)
    assert first == again  # the same seed, the same failures
    assert abs(first.count(503) / 2000 - 0.3) < 0.05
    runs = "".join("x" if c else "." for c in first)
    assert "xx" in runs  # independent draws fail twice in a row, the stepping sequence at 0.3 never does
    assert "xx" not in "".join("x" if c else "." for c in codes(Fault(503, 0.3), 2000))
    assert codes(Fault(503, 0.3, seed=5), 2000) != first


@pytest.mark.parametrize("delay", [-1, math.nan, MAX_DELAY_MS + 1])
def test_a_delay_outside_zero_to_a_minute_is_refused(delay: float) -> None:
    with pytest.raises(ValueError, match="delay_ms"):
        Fault(503, 0.0, delay_ms=delay)


def test_the_app_answers_late_by_the_delay_and_post_fault_sets_it() -> None:
    async def scenario() -> tuple[float, float, dict[str, Any]]:
        app = ServiceGo("v1", service_time_ms=0)
        status, _, body = await app.handle("POST", "/fault", json.dumps(
            {"code": 503, "fraction": 0, "delay_ms": 120, "seed": 9}).encode(), "127.0.0.1")
        assert status == 200
        start = time.monotonic()
        assert (await app.handle("GET", "/env", b"", "10.0.0.1"))[0] == 200
        slow = time.monotonic() - start
        await app.handle("POST", "/fault", b'{"code": 503, "fraction": 0}', "127.0.0.1")
        start = time.monotonic()
        await app.handle("GET", "/env", b"", "10.0.0.1")
        return slow, time.monotonic() - start, json.loads(body)

    slow, fast, echoed = asyncio.run(scenario())
    assert slow >= 0.12 and fast < 0.05
    assert echoed == {"code": 503, "fraction": 0.0, "delay_ms": 120.0, "seed": 9}


def test_the_fake_backend_takes_the_delay_and_the_cluster_backend_sends_it() -> None:
    with Lab(backend=FakeBackend(service_time_ms=25)) as lab:
        lab.apply(MANIFESTS / "service/go/service-go.yaml")
        lab.apply(MANIFESTS / "kubernetes/fortio.yaml")
        before = lab.fortio("load -c 1 -qps 0 -n 10 http://service-go/env").avg_s
        assert lab.set_fault("service-go-v1", fraction=0, delay_ms=200) == ["service-go-v1-0"]
        after = lab.fortio("load -c 1 -qps 0 -n 10 http://service-go/env").avg_s
        assert after > before + 0.05  # half the calls go to the slow v1
    command = kind_plan.fault_command(503, 0.5, 200, seed=3)
    assert json.loads(command[-1]) == {"code": 503, "fraction": 0.5, "delay_ms": 200.0, "seed": 3}


@pytest.mark.envoy
def test_through_real_sidecars_the_slow_pod_answers_late_and_the_flaky_one_at_random(lab: Any, work: Path
                                                                                     ) -> None:
    from lablib.labs.retries_meet_breakers import mesh
    from lablib.labs.retries_meet_breakers.experiment import measure

    mesh.use_rule(lab, work)
    mesh.use_route(lab, work, attempts=0)
    mesh.make_slow(lab, 150)
    slow = measure(lab, "slow", 2, calls=10)
    mesh.make_flaky(lab, 0.4, seed=2)
    flaky = measure(lab, "flaky", 5, calls=200)
    mesh.heal(lab)
    healed = measure(lab, "healed", 2, calls=10)
    assert slow.codes == {200: 10} and slow.percentiles_ms[50.0] >= 150
    assert 0.25 < flaky.failure_fraction < 0.55 and flaky.share_503 == flaky.failure_fraction
    assert healed.codes == {200: 10} and healed.percentiles_ms[50.0] < 100
