"""Retries, timeouts and the retry breakers translated as Istio 1.30 does (lab 05).

The retry policy cases are Istio's own (``pilot/pkg/networking/core/route/retry/retry_test.go`` TestRetry,
inputs and expected values as written there, fed to :func:`translate_retry_policy` directly: some inputs,
``some,fake,conditions``, are what Istio's validation would refuse). The rest goes through ``translate`` with
validated manifests: the VirtualService's ``retries``/``timeout`` on the route, the DestinationRule's
``maxRetries`` and ``retryBudget`` on the cluster's DEFAULT thresholds (Istio's cluster_builder_test
"destination rule with retry budget", with 1.30's percent), and a consistent hash keeping retries on the
hashed host.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from lablib.manifests import load_files
from lablib.translate import Endpoint, translate
from lablib.translate import defaults as d
from lablib.translate.route import translate_hash_policy, translate_retry_policy

FQDN = "service-go.default.svc.cluster.local"
DEFAULT = f"outbound|80||{FQDN}"
V1 = f"outbound|80|v1|{FQDN}"
PREVIOUS_HOSTS = [d.PREVIOUS_HOSTS_PREDICATE]
PRIORITY = {
    "name": "envoy.retry_priorities.previous_priorities",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3."
                              "PreviousPrioritiesConfig", "update_frequency": 2},
}
ISTIO_DEFAULT = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "retry_host_predicate": PREVIOUS_HOSTS,
    "host_selection_retry_max_attempts": "5",
}


# -- Istio's TestRetry, case by case ----------------------------------------------------------------------

def test_nil_retry_should_return_default() -> None:
    assert translate_retry_policy(None) == ISTIO_DEFAULT
    assert "retriable_status_codes" not in translate_retry_policy(None)  # 503 left out since 1.24


def test_zero_attempts_should_return_nil_policy() -> None:
    assert translate_retry_policy({"attempts": 0}) is None


def test_retry_with_all_fields_set() -> None:
    policy = translate_retry_policy({"attempts": 2, "retryOn": "some,fake,conditions", "perTryTimeout": "3s",
                                     "backoff": "2s"})
    assert policy == {**ISTIO_DEFAULT, "retry_on": "some,fake,conditions", "num_retries": 2,
                      "per_try_timeout": "3s", "retry_back_off": {"base_interval": "2s"}}
    assert "retriable_status_codes" not in policy and "retry_priority" not in policy


@pytest.mark.parametrize(("retry_on", "want", "codes"), [
    ("some,fake,conditions,,,", "some,fake,conditions", None),  # TestRetryOnWithEmptyParts
    ("gateway-error,retriable-status-codes,503", "gateway-error,retriable-status-codes", [503]),
    ("reset-before-request", "reset-before-request", None),  # TestRetryOnWithResetBeforeRequest
    (" some,\t,fake ,\tconditions, ,", "some,fake,conditions", None),  # TestRetryOnWithWhitespace
    ("some,fake,5xx,404,conditions,503", "some,fake,5xx,conditions,retriable-status-codes", [404, 503]),
    # TestRetryOnWithInvalidStatusCodesShouldAddToRetryOn
    ("some,fake,conditions,1000", "some,fake,conditions,1000", None),
    # Not in Istio's test, from parseRetryOn itself: Go's StatusText decides, so 599 stays a word and 418 is a
    # code; codes alone get ",retriable-status-codes" appended to an empty list (Envoy skips the empty part).
    ("5xx,599,418", "5xx,599,retriable-status-codes", [418]),
    ("503", ",retriable-status-codes", [503]),
])
def test_retry_on_parts_become_conditions_and_status_codes(retry_on: str, want: str, codes: list[int] | None
                                                           ) -> None:
    policy = translate_retry_policy({"attempts": 2, "retryOn": retry_on})
    assert policy is not None
    assert policy["retry_on"] == want
    assert policy.get("retriable_status_codes") == codes


def test_missing_retry_on_and_per_try_timeout_keep_the_defaults() -> None:
    policy = translate_retry_policy({"attempts": 2})
    assert policy is not None
    assert policy["retry_on"] == ISTIO_DEFAULT["retry_on"] and "retriable_status_codes" not in policy
    assert "per_try_timeout" not in policy


def test_retry_remote_localities() -> None:
    policy = translate_retry_policy({"attempts": 2, "retryRemoteLocalities": True})
    assert policy is not None and policy["retry_priority"] == PRIORITY
    assert policy["retry_on"] == ISTIO_DEFAULT["retry_on"]
    assert "retry_priority" not in (translate_retry_policy({"attempts": 2, "retryRemoteLocalities": False})
                                    or {})


@pytest.mark.parametrize(("ignore", "hashed", "predicate"), [
    (None, False, PREVIOUS_HOSTS),  # TestRetryPreviousHostsDefault
    (None, True, None),  # TestRetryPreviousHostsDefaultWithHashPolicy
    (True, True, PREVIOUS_HOSTS),  # TestRetryPreviousHostsForHashPolicyWithRetryIgnorePreviousHosts
    (False, False, None),  # TestRetryPreviousHostsDisabled
])
def test_previous_hosts_predicate(ignore: bool | None, hashed: bool, predicate: list | None) -> None:
    retries: dict[str, Any] = {"attempts": 2}
    if ignore is not None:
        retries["retryIgnorePreviousHosts"] = ignore
    policy = translate_retry_policy(retries, consistent_hash=hashed)
    assert policy is not None
    assert policy.get("retry_host_predicate") == predicate
    assert policy["host_selection_retry_max_attempts"] == "5" and "retry_priority" not in policy
    assert policy["num_retries"] == 2


def test_the_retry_on_vocabulary_is_istios_validation_list() -> None:
    # pkg/config/validation/agent supportedRetryOnPolicies: Envoy's x-envoy-retry-on and -grpc-on words
    assert {"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
            "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
            "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted",
            "unavailable"} == d.ISTIO_RETRY_ON_POLICIES
    assert {503, 418, 425, 511} <= d.GO_HTTP_STATUS_CODES
    assert not {306, 419, 509, 599} & d.GO_HTTP_STATUS_CODES


# -- through translate(): routes and clusters -------------------------------------------------------------

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: service-go}
spec:
  selector: {app: service-go}
  ports: [{name: http, port: 80, targetPort: 80}]
"""


def endpoints() -> list[Endpoint]:
    return [Endpoint(f"service-go-{v}-0", "default", {"app": "service-go", "version": v}, "127.0.0.1",
                     15100 + i, 18080 + i) for i, v in enumerate(("v1", "v2"))]


def translated(tmp_path: Path, *docs: str) -> Any:
    paths = []
    for i, doc in enumerate((SERVICE, *docs)):
        path = tmp_path / f"{i}.yaml"
        path.write_text(textwrap.dedent(doc))
        paths.append(path)
    return translate(load_files(paths), endpoints())


def route_action(config: Any) -> dict[str, Any]:
    (route,) = config.route_configuration(80)["virtual_hosts"][0]["routes"]
    return route["route"]


def thresholds(config: Any, name: str = DEFAULT) -> dict[str, Any]:
    (threshold,) = config.cluster(name)["circuit_breakers"]["thresholds"]
    return threshold


VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: service-go}}
spec:
  hosts: [service-go]
  http:
  - route:
    - destination: {{host: service-go{subset}}}
{fields}
"""


def vs(fields: str = "", subset: str = "") -> str:
    return VS.format(fields=textwrap.indent(textwrap.dedent(fields).strip("\n"), "    "),
                     subset=f", subset: {subset}" if subset else "")


def test_the_labs_retry_route_translates_attempts_retry_on_per_try_timeout_and_timeout(tmp_path: Path
                                                                                        ) -> None:
    config = translated(tmp_path, vs("""
        timeout: 2s
        retries:
          {attempts: 5, retryOn: "5xx,gateway-error", perTryTimeout: 300ms, retryRemoteLocalities: true}
    """))
    action = route_action(config)
    assert action["timeout"] == "2s" and action["max_grpc_timeout"] == "2s"  # setTimeout: both
    assert action["retry_policy"] == {**ISTIO_DEFAULT, "num_retries": 5, "retry_on": "5xx,gateway-error",
                                      "per_try_timeout": "0.300s", "retry_priority": PRIORITY}


def test_no_timeout_is_0s_never_and_attempts_0_drops_the_policy(tmp_path: Path) -> None:
    action = route_action(translated(tmp_path, vs("retries: {attempts: 0}")))
    assert action["timeout"] == "0s" and action["max_grpc_timeout"] == "0s"
    assert "retry_policy" not in action
    # the book's route (no retries at all) gets Istio's default policy
    assert route_action(translated(tmp_path, vs()))["retry_policy"] == ISTIO_DEFAULT


def test_max_retries_and_the_budget_land_on_the_default_thresholds(tmp_path: Path) -> None:
    dr = """\
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: service-go}
    spec:
      host: service-go
      trafficPolicy:
        connectionPool: {http: {maxRetries: 4}}
      subsets:
      - name: v1
        labels: {version: v1}
        trafficPolicy:
          connectionPool: {http: {maxRetries: 10}}
          retryBudget: {}
      - name: v2
        labels: {version: v2}
        trafficPolicy:
          retryBudget: {percent: 12.5, minRetryConcurrency: 1}
    """
    config = translated(tmp_path, dr)
    top = thresholds(config)
    assert top["max_retries"] == 4 and "retry_budget" not in top
    # Istio's "destination rule with retry budget": maxRetries 10 and an empty budget -> the defaults, which
    # Istio 1.30 writes as 20 (percent on Envoy's 0-100 scale; 1.27-1.29 wrote 0.2) and 3
    v1 = thresholds(config, V1)
    assert v1["max_retries"] == 10
    assert v1["retry_budget"] == {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3}
    # a subset that sets only a budget keeps the rule's connectionPool (maxRetries 4) beside it
    v2 = thresholds(config, f"outbound|80|v2|{FQDN}")
    assert v2["retry_budget"] == {"budget_percent": {"value": 12.5}, "min_retry_concurrency": 1}
    assert v2["max_retries"] == 4


def test_without_a_rule_nothing_limits_concurrent_retries(tmp_path: Path) -> None:
    assert thresholds(translated(tmp_path))["max_retries"] == d.MAX_UINT32 == 4294967295


def test_a_consistent_hash_keeps_retries_on_the_hashed_host(tmp_path: Path) -> None:
    dr = """\
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: service-go}
    spec:
      host: service-go
      trafficPolicy:
        loadBalancer: {consistentHash: {httpHeaderName: x-user}}
      subsets:
      - {name: v1, labels: {version: v1}}
    """
    action = route_action(translated(tmp_path, dr, vs("retries: {attempts: 3}")))
    assert action["hash_policy"] == [{"header": {"header_name": "x-user"}}]
    assert "retry_host_predicate" not in action["retry_policy"]  # DefaultConsistentHashPolicy
    ignore = vs("retries: {attempts: 3, retryIgnorePreviousHosts: true}", subset="v1")
    action = route_action(translated(tmp_path, dr, ignore))
    assert action["retry_policy"]["retry_host_predicate"] == PREVIOUS_HOSTS
    # no rule, no hash: the default predicate
    assert route_action(translated(tmp_path, vs("retries: {attempts: 3}")))["retry_policy"][
        "retry_host_predicate"] == PREVIOUS_HOSTS


@pytest.mark.parametrize(("hash_lb", "policy"), [
    ({"httpHeaderName": "x-user"}, {"header": {"header_name": "x-user"}}),
    ({"httpCookie": {"name": "u", "ttl": "10s", "path": "/"}}, {"cookie": {"name": "u", "ttl": "10s",
                                                                          "path": "/"}}),
    ({"useSourceIp": True}, {"connection_properties": {"source_ip": True}}),
    ({"httpQueryParameterName": "q"}, {"query_parameter": {"name": "q"}}),
    ({"ringHash": {"minimumRingSize": 1024}}, None),
])
def test_consistent_hash_keys_become_route_hash_policies(hash_lb: dict, policy: dict | None) -> None:
    assert translate_hash_policy(hash_lb) == policy
