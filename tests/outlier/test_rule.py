"""The DestinationRule written from slider values, and the Istio -> Envoy explanation rows."""

from __future__ import annotations

import pytest
import yaml

from lablib.labs.outlier_detection.rule import (
    LAB,
    SEED,
    OutlierSettings,
    destination_rule,
    effective_envoy,
    seconds,
    write_rule,
)


def _rows(settings: OutlierSettings) -> dict[str, str]:
    return {envoy: value for envoy, value, _, _ in effective_envoy(settings)}


def test_seed_consecutive_errors_maps_to_envoy_default_five():
    rows = _rows(SEED)
    assert rows["consecutive_5xx"] == "5"
    assert rows["enforcing_consecutive_gateway_failure"] == "0"
    assert rows["base_ejection_time"] == "180s" and rows["max_ejection_time"] == "300s"
    assert SEED.istio_fields() == {"consecutiveErrors": 3, "interval": "3s", "baseEjectionTime": "3m",
                                   "maxEjectionPercent": 100}


def test_lab_rule_matches_the_committed_manifest():
    with open("manifests/istio/resilience/destination-rule-go-outlier.yaml") as f:
        committed = yaml.safe_load(f)
    assert destination_rule(LAB)["spec"] == committed["spec"]


def test_gateway_errors_and_max_ejection_default():
    s = LAB.replace(consecutive_5xx_errors=0, consecutive_gateway_errors=3, max_ejection_percent=None)
    rows = _rows(s)
    assert rows["enforcing_consecutive_5xx"] == "0"
    assert rows["consecutive_gateway_failure"] == "3"
    assert rows["enforcing_consecutive_gateway_failure"] == "100"
    assert rows["max_ejection_percent"] == "10"


@pytest.mark.parametrize(("bad", "says"), [({"max_ejection_percent": 150}, "max_ejection_percent"),
                                           ({"consecutive_5xx_errors": -1}, "consecutive_5xx_errors"),
                                           ({"interval": "soon"}, "'soon' is not a duration"),
                                           ({"base_ejection_time": "3 minutes"}, "not a duration")])
def test_bad_slider_values_are_rejected_with_the_field_name(bad, says):
    with pytest.raises(ValueError, match=says):
        LAB.replace(**bad)


def test_seconds():
    assert seconds("3m") == 180 and seconds("1s") == 1 and seconds("500ms") == 0.5 and seconds(2) == 2.0
    # read as Istio reads them (lablib/_duration.py): compound durations and proto3 JSON too
    assert seconds("1m30s") == 90 and seconds("1.5s") == 1.5 and seconds("0.500s") == 0.5
    assert OutlierSettings(base_ejection_time="1m30s").base_ejection_time_s == 90


def test_write_rule_round_trips_and_validates(tmp_path):
    settings = LAB.replace(base_ejection_time="5s", connection_pool={"http": {"http1MaxPendingRequests": 1}})
    path = write_rule(tmp_path / "dr.yaml", settings, comment="step 5: overflow")
    doc = yaml.safe_load(path.read_text())
    assert path.read_text().startswith("# step 5: overflow\n")
    assert doc["spec"]["trafficPolicy"]["outlierDetection"]["baseEjectionTime"] == "5s"
    assert doc["spec"]["trafficPolicy"]["connectionPool"] == {"http": {"http1MaxPendingRequests": 1}}


def test_mapping_table_shows_the_seed_field_ignored_next_to_the_lab_value():
    from lablib.labs.outlier_detection.tables import mapping_table

    table = mapping_table(SEED, LAB)
    rows = {r[0]: r for r in table.rows}
    _, seed, lab, _ = rows["consecutive_5xx"]
    assert seed.startswith("5") and "consecutiveErrors: ignored" in seed
    assert lab.startswith("3") and "consecutive5xxErrors" in lab
    assert "<table" in table._repr_html_() and "180s" in str(table)


def test_event_table_lists_ejection_with_errors_and_return_with_time_out():
    from lablib.labs.outlier_detection.tables import event_table
    from lablib.labs.outlier_detection.timeline import HostSample, Timeline

    c, a = "outbound|80||service-go.default.svc.cluster.local", "127.0.0.1:1001"
    states, errors = "1100000111", [0, 2, 3, 3, 3, 3, 3, 3, 3, 3]
    tl = Timeline(hosts=[HostSample(i * 0.5, c, a, ch == "1", (), {"rq_error": errors[i]})
                         for i, ch in enumerate(states)])
    rows = event_table(tl, names={a: "service-go-v1-0"}).rows
    v1 = "service-go-v1-0"
    assert [r[1:4] for r in rows] == [[v1, "ejected", "3"], [v1, "returned", ""]]
    assert rows[1][4] == "2.5s"


GATEWAY_ONLY = LAB.replace(consecutive_5xx_errors=0, consecutive_gateway_errors=3, max_ejection_percent=None,
                           min_health_percent=20)


@pytest.mark.parametrize("settings", [SEED, LAB, GATEWAY_ONLY])
def test_what_envoy_gets_is_what_the_translator_writes_into_the_cluster(settings):
    from lablib.labs.outlier_detection.observer import DEFAULT_CLUSTER
    from lablib.manifests import load_file
    from lablib.translate import translate

    service = load_file("manifests/service/go/service-go.yaml")
    cluster = translate([*service, destination_rule(settings)], []).cluster(DEFAULT_CLUSTER)
    od, rows = cluster["outlier_detection"], _rows(settings)
    for field, value in od.items():
        if field in rows:
            want = f"{seconds(value):g}s" if field in ("interval", "base_ejection_time") else str(value)
            assert rows[field] == want, field
    panic = cluster["common_lb_config"]["healthy_panic_threshold"]["value"]
    assert rows["common_lb_config.healthy_panic_threshold"] == f"{panic}%"
    assert set(od) <= set(rows), "the table shows every field the translator sets"
