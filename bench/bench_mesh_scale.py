"""Embedded mesh at scale: a DestinationRule with 1,000 subsets against the same rule with 2 (issue #10).

Both runs use one lab with the same service (service-go v1 + v2); only the number of subsets, so of Envoy
clusters in the fortio pod's sidecar, differs. Measured per rule: ``fortio -n 10`` (which snapshots every
sidecar's stats before and after) and ``stats()``; printed as the ratio 1,000 / 2, against the 2x goal. The
apply time is printed too (it translates, pushes and confirms 1,000 clusters), for information.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_RATIO = 2.0
SUBSETS = (2, 1000)
REPEATS = 5


def _rule(subsets: int) -> str:
    """A DR for service-go with ``subsets`` subsets (the first two select the real pods, the rest nobody)."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: DestinationRule", "metadata: {name: service-go}",
             "spec:", "  host: service-go", "  trafficPolicy:",
             "    connectionPool: {tcp: {maxConnections: 100}}", "  subsets:"]
    lines += [f"  - {{name: s{i}, labels: {{version: {('v1', 'v2')[i] if i < 2 else f'x{i}'}}}}}"
              for i in range(subsets)]
    return "\n".join(lines) + "\n"


def _allow_subsets(n: int) -> str:
    """Lift the manifest validator's cap on subsets to ``n`` in this process, if it is lower; say so."""
    from lablib.manifests import _schema

    field = _schema.DESTINATION_RULE_SPEC.fields["subsets"]
    cap = getattr(field, "max_items", None)
    if cap is None or cap >= n:
        return ""
    field.max_items = n  # type: ignore[attr-defined]
    return f" (the validator allows {cap} subsets; lifted to {n} for this benchmark)"


def _best(call: Callable[[], object]) -> float:
    """The median of a few timings of ``call`` (seconds)."""
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    import warnings

    from lablib.backends.mesh import MeshBackend

    results: dict[int, tuple[float, float, float]] = {}
    lifted = _allow_subsets(max(SUBSETS))
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        tmp_path = Path(tmp)
        mesh = MeshBackend("bench-scale", home=tmp_path / "home", service_time_ms=1)
        try:
            mesh.apply(REPO / "manifests/service/go/service-go.yaml")
            for n in SUBSETS:
                path = tmp_path / f"dr-{n}.yaml"
                path.write_text(_rule(n))
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "subset selects no pod", once per subset
                    mesh.apply(path)
                apply_s = time.perf_counter() - t0
                assert len(mesh.stats()) == n + 1  # the service's cluster + one per subset
                fortio_s = _best(lambda: mesh.fortio("load -c 1 -qps 0 -n 10 -loglevel Error "
                                                     "http://service-go/env"))
                stats_s = _best(mesh.stats)
                results[n] = (apply_s, fortio_s, stats_s)
        finally:
            mesh.cleanup()
    (a_small, f_small, s_small), (a_big, f_big, s_big) = results[SUBSETS[0]], results[SUBSETS[1]]
    f_ratio, s_ratio = f_big / f_small, s_big / s_small
    print(f"fortio -n 10 with {SUBSETS[1]} subsets: {f_big:.2f} s = {f_ratio:.2f}x the same with "
          f"{SUBSETS[0]} ({f_small:.2f} s); goal <= {GOAL_RATIO:.0f}x")
    print(f"stats() with {SUBSETS[1]} subsets: {s_big * 1000:.0f} ms = {s_ratio:.2f}x the same with "
          f"{SUBSETS[0]} ({s_small * 1000:.0f} ms); goal <= {GOAL_RATIO:.0f}x")
    print(f"apply of the rule with {SUBSETS[1]} subsets: {a_big:.2f} s = {a_big / a_small:.1f}x the one with "
          f"{SUBSETS[0]} ({a_small:.2f} s), every sidecar confirmed (for information){lifted}")
    return 0 if f_ratio <= GOAL_RATIO and s_ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
