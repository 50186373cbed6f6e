"""The environment factors of lab 04's presets in the theory: the mTLS handshake and the worker count change
the simulated 503 share of the Istio task's rule the way real Envoy does (tests/mesh/test_fidelity.py)."""

from __future__ import annotations

import math

import pytest

from lablib.labs.reproducing_published_runs.presets import preset
from lablib.theory import ClusterLimits, simulate

TASK = "outbound|80||service-go.default.svc.cluster.local"


def task_rule(workers: int) -> ClusterLimits:
    # maxConnections 1, http1MaxPendingRequests 1, maxRequestsPerConnection 1, one endpoint.
    return ClusterLimits(TASK, 1.0, 1, 1, math.inf, 1, False, 1, workers, "LEAST_REQUEST")


def _share(workers: int, handshake_s: float) -> float:
    env = preset("istio-task")
    return simulate(3, 30, [task_rule(workers)], service_time_s=env.service_time_ms / 1000,
                    reject_time_s=0.0015, connect_time_s=0.0002, client_gap_s=0.0002, timing_cv=1.0,
                    service_cv=0.3, repeats=40, capacity="envoy", handshake_time_s=handshake_s).mean


def test_a_handshake_per_connection_raises_the_task_share() -> None:
    for workers in (1, 2):
        plain, mtls = _share(workers, 0.0), _share(workers, 0.003)
        assert mtls > plain + 0.1, f"{workers} worker(s): {plain:.2f} -> {mtls:.2f}"


def test_a_preset_gives_the_simulation_its_workers_and_handshake() -> None:
    task, book = preset("istio-task"), preset("book")
    assert task.theory_options(0.003) == {"workers": 2, "handshake_time_s": 0.003}
    assert book.theory_options(0.003) == {"workers": 1, "handshake_time_s": 0.0}, "the book ran plaintext"
    opts = task.theory_options(0.003)
    lim = task_rule(opts.pop("workers"))
    with_tls = simulate(3, 30, [lim], service_time_s=0.001, reject_time_s=0.0015, connect_time_s=0.0002,
                        client_gap_s=0.0002, timing_cv=1.0, repeats=40, capacity="envoy", **opts).mean
    assert with_tls > _share(2, 0.0) + 0.1


def test_handshake_time_is_validated() -> None:
    with pytest.raises(ValueError, match="handshake_time_s"):
        simulate(3, 30, [task_rule(1)], service_time_s=0.001, reject_time_s=0.001, handshake_time_s=-1)


def test_c_1_never_overflows_whatever_the_handshake() -> None:
    result = simulate(1, 10, [task_rule(2)], service_time_s=0.001, reject_time_s=0.001, connect_time_s=0.0002,
                      capacity="envoy", handshake_time_s=0.005, repeats=5)
    assert result.mean == 0.0
