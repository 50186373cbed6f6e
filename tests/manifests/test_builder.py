"""The one DestinationRule builder of every lab's explorer: Istio's field names, validated like a student's
file."""

from __future__ import annotations

import pytest

from lablib._exceptions import ValidationFailed
from lablib.labs.circuit_breaking import knobs
from lablib.labs.outlier_detection import rule
from lablib.manifests import load_file
from lablib.manifests.builder import build_destination_rule, manifest_text, write_manifest

POOL = {"tcp": {"maxConnections": 10}, "http": {"http1MaxPendingRequests": 10}}
OUTLIER = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "15s"}


def test_a_fresh_rule_has_the_books_subsets_and_only_the_blocks_given():
    dr = build_destination_rule()
    assert dr == {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                  "metadata": {"name": "service-go"},
                  "spec": {"host": "service-go", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                             {"name": "v2", "labels": {"version": "v2"}}]}}
    dr = build_destination_rule(name="r", host="h", subsets=(), connection_pool=POOL,
                                outlier_detection=OUTLIER)
    assert list(dr["spec"]) == ["host", "trafficPolicy"]  # Istio's docs order
    assert dr["spec"]["trafficPolicy"] == {"connectionPool": POOL, "outlierDetection": OUTLIER}


def test_a_base_rule_is_copied_and_its_blocks_replaced_kept_or_removed():
    base = build_destination_rule(connection_pool=POOL, outlier_detection=OUTLIER)
    snapshot = manifest_text(base)
    kept = build_destination_rule(base=base, connection_pool={"tcp": {"maxConnections": 1}})
    assert kept["spec"]["trafficPolicy"] == {"connectionPool": {"tcp": {"maxConnections": 1}},
                                             "outlierDetection": OUTLIER}
    assert list(kept["spec"]) == ["host", "trafficPolicy", "subsets"]
    gone = build_destination_rule(base=base, connection_pool={}, outlier_detection={})
    assert "trafficPolicy" not in gone["spec"] and gone["spec"]["subsets"] == base["spec"]["subsets"]
    assert manifest_text(base) == snapshot  # the base is never changed


def test_written_rule_loads_like_a_students_file(tmp_path):
    path = write_manifest(tmp_path / "dr.yaml", build_destination_rule(connection_pool=POOL),
                          comment="from the sliders\nsecond line")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# from the sliders\n# second line\napiVersion: networking.istio.io/v1\n")
    (m,) = load_file(path)
    assert (m.kind, m.name) == ("DestinationRule", "service-go")
    assert m.body["spec"]["trafficPolicy"]["connectionPool"] == POOL


def test_a_bad_value_comes_back_positioned_in_the_written_file_and_nothing_is_left(tmp_path):
    dr = build_destination_rule(connection_pool={"tcp": {"maxConnections": -1}},
                                outlier_detection={"interval": "soon"})
    text = manifest_text(dr)
    lines = text.splitlines()
    with pytest.raises(ValidationFailed) as e:
        write_manifest(tmp_path / "dr.yaml", dr)
    got = {(p.line, p.path) for p in e.value.problems}
    assert got == {
        (lines.index("        maxConnections: -1") + 1,
         "spec.trafficPolicy.connectionPool.tcp.maxConnections"),
        (lines.index("      interval: soon") + 1, "spec.trafficPolicy.outlierDetection.interval"),
    }
    assert all(str(p).startswith(f"{tmp_path / 'dr.yaml'}:") for p in e.value.problems)
    assert list(tmp_path.iterdir()) == []


def test_both_labs_explorers_build_through_it():
    k = knobs.BreakerKnobs(max_connections=5, http1_max_pending_requests=3)
    assert knobs.destination_rule(k) == build_destination_rule(connection_pool=k.connection_pool())
    settings = rule.LAB.replace(connection_pool=POOL)
    assert rule.destination_rule(settings) == build_destination_rule(connection_pool=POOL,
                                                                      outlier_detection=settings.istio_fields())
