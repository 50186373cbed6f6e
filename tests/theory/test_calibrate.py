"""Times taken from a fortio run: the 200s are "totals minus errors", the 503s are the errors histogram."""

from __future__ import annotations

import math
import statistics

import pytest

from lablib.theory import ClusterLimits, band_for_run, simulate, times_from_result, timing_from_result

CLUSTER = "outbound|80||service-go.default.svc.cluster.local"
OK_LATENCIES = [0.010, 0.012, 0.014, 0.016]
ERROR_LATENCIES = [0.0005, 0.0009, 0.0013]
CONNECT_TIMES = [0.0001, 0.0002, 0.0003]


def histogram(values: list[float]) -> dict:
    """fortio's HistogramData summary fields (population StdDev, as fortio's stats.go computes it)."""
    if not values:
        return {"Count": 0, "Min": 0, "Max": 0, "Sum": 0, "Avg": 0, "StdDev": 0, "Data": None}
    return {"Count": len(values), "Min": min(values), "Max": max(values), "Sum": sum(values),
            "Avg": statistics.fmean(values), "StdDev": statistics.pstdev(values)}


def cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


def fortio_json(ok: list[float], errors: list[float], *, duration_s: float = 0.05) -> dict:
    return {
        "RunType": "HTTP", "NumThreads": 3, "ActualDuration": int(duration_s * 1e9),
        "DurationHistogram": histogram(ok + errors), "ErrorsDurationHistogram": histogram(errors),
        "RetCodes": {"200": len(ok), **({"503": len(errors)} if errors else {})},
        "ConnectionStats": histogram(CONNECT_TIMES),
    }


def test_ok_and_error_times_are_separated_from_fortio_totals() -> None:
    timing = timing_from_result(fortio_json(OK_LATENCIES, ERROR_LATENCIES))
    assert timing.ok_count == 4 and timing.error_count == 3
    assert timing.ok_latency_s == pytest.approx(statistics.fmean(OK_LATENCIES))
    assert timing.service_time_s == timing.ok_latency_s  # no limits given: the 200s' mean latency
    assert timing.service_cv == pytest.approx(cv(OK_LATENCIES))
    assert timing.reject_time_s == pytest.approx(statistics.fmean(ERROR_LATENCIES))
    assert timing.reject_cv == pytest.approx(cv(ERROR_LATENCIES))
    assert timing.connect_time_s == pytest.approx(0.0002)
    assert timing.client_gap_s == pytest.approx(statistics.fmean(ERROR_LATENCIES) - 0.0002)
    assert timing.duration_s == pytest.approx(0.05)
    assert times_from_result(fortio_json(OK_LATENCIES, ERROR_LATENCIES)) == (
        pytest.approx(0.013), pytest.approx(0.0009))


def test_queueing_is_removed_with_the_throughput_bound_when_limits_are_known() -> None:
    one_slot = ClusterLimits(CLUSTER, 1.0, 1, 1, math.inf, 1, False, 1, 1)
    # 4 calls served one at a time in 0.03 s: a slot can be held 7.5 ms at most, less than the 13 ms latency.
    fast_run = fortio_json(OK_LATENCIES, ERROR_LATENCIES, duration_s=0.03)
    assert timing_from_result(fast_run, limits=[one_slot]).service_time_s == pytest.approx(0.0075)
    slow = timing_from_result(fortio_json(OK_LATENCIES, ERROR_LATENCIES, duration_s=1.0), limits=[one_slot])
    assert slow.service_time_s == pytest.approx(0.013)  # the latency is then the tighter bound


def test_a_run_without_errors_cannot_tell_the_rejection_time() -> None:
    timing = timing_from_result(fortio_json(OK_LATENCIES, []))
    assert math.isnan(timing.reject_time_s) and math.isnan(timing.client_gap_s)
    assert timing.simulate_options()["reject_time_s"] == 0.0
    assert timing.simulate_options(reject_time_s=0.001)["reject_time_s"] == 0.001


def test_reads_a_fortio_result_record_and_feeds_simulate() -> None:
    fortio = pytest.importorskip("lablib.fortio")
    result = fortio.read_result(fortio_json(OK_LATENCIES, ERROR_LATENCIES))
    assert timing_from_result(result) == timing_from_result(fortio_json(OK_LATENCIES, ERROR_LATENCIES))
    lim = ClusterLimits(CLUSTER, 1.0, 1, 1, math.inf, 1, False, 2, 1, "LEAST_REQUEST")
    options = timing_from_result(result).simulate_options()
    band = simulate(3, 30, [lim], capacity="envoy", repeats=5, **options)
    assert 0.0 < band.mean < 1.0


def test_not_a_fortio_result_is_refused() -> None:
    with pytest.raises(TypeError, match="fortio JSON"):
        timing_from_result(object())


def test_band_for_run_simulates_the_runs_own_flags() -> None:
    lim = ClusterLimits(CLUSTER, 1.0, 1, 1, math.inf, 1, False, 2, 1, "LEAST_REQUEST")
    n_run = {**fortio_json(OK_LATENCIES * 5, ERROR_LATENCIES * 4, duration_s=0.06), "Exactly": 32,
             "NumThreads": 4}
    band = band_for_run(n_run, [lim], repeats=5)
    assert (band.c, band.n, band.calls) == (4, 32, 32)
    assert len(band.variants) == 2  # Envoy's connect time: 0 and fortio's loopback connect time
    assert band.variants[0].shares != band.variants[1].shares or band.low == band.high
    t_run = {**n_run, "Exactly": 0}
    looping = band_for_run(t_run, [lim], repeats=2)
    assert looping.calls > 32  # a -t run: threads loop for the run's duration
    assert looping.low > band.low
    alone = fortio_json([0.004] * 10, [])
    calibrated = band_for_run(n_run, [lim], repeats=5, calibration=alone)
    assert calibrated.shares != band.shares
    with pytest.raises(ValueError, match="no 200s"):
        band_for_run(n_run, [lim], calibration=fortio_json([], ERROR_LATENCIES))
