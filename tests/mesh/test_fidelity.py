"""The environment presets on real Envoy: robust properties only (docs/reference/measured-envoy-1.40.md,
"Reproducing the published runs", has the measured means and spreads these margins come from)."""

from __future__ import annotations

import statistics

import pytest

from lablib.labs.reproducing_published_runs.client_cpu import fortio_in
from lablib.labs.reproducing_published_runs.presets import preset

pytestmark = pytest.mark.envoy
RUNS = 10
CLUSTER = "outbound|80||service-go.default.svc.cluster.local"


def _lab(make_mesh, env):
    mesh = make_mesh(**env.lab_options())
    mesh.apply(env.service_path())
    mesh.apply(env.rule_path())
    return mesh


def _shares(mesh, env, c: int, runs: int) -> list[float]:
    return [fortio_in(mesh, env, c).share(503) for _ in range(runs)]


def test_istio_task_preset_c1_never_trips_and_mtls_raises_the_share(make_mesh):
    task = preset("istio-task")
    assert task.mtls and task.service_time_ms <= 2
    # One worker: the handshake's effect is steadier than with 2, where the kernel's spread of fortio's
    # connections over the workers adds noise of the same size.
    env = task.with_(workers=1)
    on = _lab(make_mesh, env)
    assert _shares(on, env, 1, 3) == [0.0, 0.0, 0.0], "one thread: one request at a time never overflows"
    before = on.stats(CLUSTER).get("ssl.handshake")
    results = [fortio_in(on, env, 2) for _ in range(RUNS)]
    with_mtls = statistics.fmean(r.share(503) for r in results)
    handshakes = on.stats(CLUSTER).get("ssl.handshake") - before
    assert handshakes >= sum(r.codes.get(200, 0) for r in results), "every admitted request paid a handshake"
    on.cleanup()

    plain_env = env.with_(mtls=False)
    off = _lab(make_mesh, plain_env)
    plain = statistics.fmean(_shares(off, plain_env, 2, RUNS))
    # Measured (10-run means, 1 worker, 8 lab pairs over three sessions): mTLS adds +7 to +32 points at c = 2,
    # where plaintext stays at 0-8%. At c = 3 the difference ranged -5 to +20 in such short sessions (the
    # session's hold/r moves the share by as much), so it is reported (measured-envoy-1.40.md), not asserted.
    assert with_mtls > plain + 0.04, f"c=2: mTLS {with_mtls:.2f} vs plaintext {plain:.2f}"


def test_book_preset_share_rises_with_concurrency(make_mesh):
    env = preset("book")
    mesh = _lab(make_mesh, env)
    low = statistics.fmean(_shares(mesh, env, 20, 3))
    high = statistics.fmean(_shares(mesh, env, 40, 3))
    # Measured: ~10-17% at c = 20, ~60-67% at c = 40 under every environment variant.
    assert high > low + 0.2, f"c=20 {low:.2f}, c=40 {high:.2f}"
