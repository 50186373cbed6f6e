"""The translator is Istio 1.30's: one check per row of ``lablib.translate.version.CHANGES`` (the table in
docs/reference/istio-versions.md), and the warning the cluster backend shows for another istiod."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from translate_helpers import DEFAULT, SERVICE, dr, seed_endpoints

from lablib.manifests import parse_manifests
from lablib.translate import ISTIO_VERSION, istiod_version_warning, translate
from lablib.translate.defaults import MAX_UINT32
from lablib.translate.version import CHANGES, parse_minor

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "istio-versions.md"


def outbound(policy: dict[str, Any] | None = None, **kw: Any) -> dict:
    objects: list[Any] = [SERVICE]
    if policy is not None:
        objects.append(dr({"host": "service-go", "trafficPolicy": policy}))
    return translate(objects, seed_endpoints(), **kw).cluster(DEFAULT)


def threshold(cluster: dict) -> dict:
    (entry,) = cluster["circuit_breakers"]["thresholds"]
    return entry


def default_routes_retry_twice_on_connection_failures() -> None:
    config = translate([SERVICE], seed_endpoints())
    (route,) = config.route_configuration(80)["virtual_hosts"][0]["routes"]
    retry = route["route"]["retry_policy"]
    assert retry["num_retries"] == 2
    assert retry["retry_on"] == "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    assert retry["host_selection_retry_max_attempts"] == "5"


def default_routes_do_not_retry_503() -> None:
    config = translate([SERVICE], seed_endpoints())
    (route,) = config.route_configuration(80)["virtual_hosts"][0]["routes"]
    assert "retriable_status_codes" not in route["route"]["retry_policy"]


def no_destination_rule_still_gives_unlimited_breakers() -> None:
    entry = threshold(outbound())
    for key in ("max_connections", "max_pending_requests", "max_requests", "max_retries"):
        assert entry[key] == MAX_UINT32


def consecutive_errors_is_ignored_with_a_warning() -> None:
    cluster = outbound({"outlierDetection": {"consecutiveErrors": 3}})
    assert cluster["outlier_detection"] == {"enforcing_success_rate": 0}  # Envoy's 5 consecutive 5xx apply
    rule = dr({"host": "service-go", "trafficPolicy": {"outlierDetection": {"consecutiveErrors": 3}}})
    _, problems = parse_manifests(yaml.safe_dump(rule), "dr.yaml")  # the validator says it, once
    assert [p.severity for p in problems] == ["warning"] and "IGNORED by Istio >= 1.7" in problems[0].message


def track_remaining_can_be_turned_back_on() -> None:
    assert threshold(outbound(track_remaining=True))["track_remaining"] is True


def retry_budget_is_set_only_when_configured() -> None:
    assert "retry_budget" not in threshold(outbound({"connectionPool": {}}))
    budget = threshold(outbound({"retryBudget": {"percent": 10, "minRetryConcurrency": 4}}))["retry_budget"]
    assert budget == {"budget_percent": {"value": 10.0}, "min_retry_concurrency": 4}


def max_concurrent_streams_reaches_an_upgraded_cluster() -> None:
    cluster = outbound(
        {"connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE", "maxConcurrentStreams": 100}}}
    )
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["explicit_http_config"]["http2_protocol_options"] == {"max_concurrent_streams": 100}


def track_remaining_is_off_by_default() -> None:
    assert threshold(outbound())["track_remaining"] is False


def retry_budget_defaults_to_twenty_percent() -> None:
    budget = threshold(outbound({"retryBudget": {}}))["retry_budget"]
    assert budget == {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3}


# (since, field) of a CHANGES row -> the check that the translator does what Istio 1.30 does.
CHECKS: dict[tuple[str, str], Callable[[], None]] = {
    ("1.1", "default route retries"): default_routes_retry_twice_on_connection_failures,
    (
        "1.4",
        "default circuit breakers (no DestinationRule)",
    ): no_destination_rule_still_gives_unlimited_breakers,
    ("1.7", "outlierDetection.consecutiveErrors"): consecutive_errors_is_ignored_with_a_warning,
    ("1.10", "circuit_breakers.thresholds[0].track_remaining"): track_remaining_can_be_turned_back_on,
    ("1.24", "default route retries on 503"): default_routes_do_not_retry_503,
    ("1.27", "trafficPolicy.retryBudget"): retry_budget_is_set_only_when_configured,
    (
        "1.28",
        "connectionPool.http.maxConcurrentStreams with h2UpgradePolicy UPGRADE",
    ): max_concurrent_streams_reaches_an_upgraded_cluster,
    ("1.29", "circuit_breakers.thresholds[0].track_remaining"): track_remaining_is_off_by_default,
    ("1.30", "trafficPolicy.retryBudget without percent"): retry_budget_defaults_to_twenty_percent,
}


@pytest.mark.parametrize("change", CHANGES, ids=[f"Istio {c.since}: {c.field}" for c in CHANGES])
def test_the_translator_does_what_istio_1_30_does_for_each_version_change(change: Any) -> None:
    CHECKS[(change.since, change.field)]()


def test_every_check_belongs_to_a_row_of_the_table() -> None:
    assert set(CHECKS) == {(c.since, c.field) for c in CHANGES}


def test_the_table_is_in_version_order_and_ends_at_the_pinned_release() -> None:
    versions = [parse_minor(c.since) for c in CHANGES]
    assert versions == sorted(versions)  # type: ignore[type-var]
    assert versions[-1] == parse_minor(ISTIO_VERSION)


def test_the_reference_document_has_a_row_for_each_change() -> None:
    text = DOC.read_text()
    for change in CHANGES:
        assert f"| {change.since} | {change.field} |" in text, change


# (test name, reported istiod version, expected: None or a phrase of the warning)
WARNING_CASES = [
    ("the pinned release is fine", "1.30.0", None),
    ("a patch release is fine", "1.30.4", None),
    ("a v-prefixed image tag is fine", "v1.30.1-distroless", None),
    ("1.29 lacks the retry budget fix", "1.29.3", "Istio 1.30: trafficPolicy.retryBudget without percent"),
    (
        "the book's 1.0 lacks the consecutiveErrors change",
        "1.0.3",
        "Istio 1.7: outlierDetection.consecutiveErrors",
    ),
    ("a newer istiod may differ in ways the lab does not know", "1.31.0", "the lab does not know"),
    ("an unreadable version is said so", "unknown", "could not read istiod's version"),
    ("no version at all is said so", None, "could not read istiod's version"),
]


@pytest.mark.parametrize(
    ("reported", "expected"), [c[1:] for c in WARNING_CASES], ids=[c[0] for c in WARNING_CASES]
)
def test_istiod_version_warning(reported: str | None, expected: str | None) -> None:
    warning = istiod_version_warning(reported)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning
        assert ISTIO_VERSION in warning


def test_the_warning_for_1_29_lists_only_what_changed_since() -> None:
    warning = istiod_version_warning("1.29.0")
    assert warning is not None
    assert "Istio 1.30" in warning
    assert "Istio 1.29:" not in warning and "Istio 1.7:" not in warning
