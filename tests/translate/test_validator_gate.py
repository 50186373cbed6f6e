"""The validator is the one gate; the translator trusts it (issue 18).

Everything the translator used to refuse with an English-only ``ManifestError`` is refused by ``validate``
instead: at FILE:LINE, with the fix, in the catalogue's words in both languages (the bad-input cases named
here). Given to ``translate()`` without validation, the same input is an internal assertion
(``UnvalidatedInput``, an ``AssertionError``: never a ``LabError`` a student would read). And what the
validator accepts, the translator translates, mTLS on.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from translate_helpers import SERVICE, dr, seed_endpoints, vs

from lablib import LabError
from lablib._duration import DurationError
from lablib.manifests import parse_manifests, validate_files
from lablib.translate import MeshTls, file_secrets, translate
from lablib.translate.model import UnvalidatedInput

CASES = Path(__file__).resolve().parents[1] / "badinput" / "cases"
MESH_TLS = MeshTls(file_secrets("/run/lab/fortio"))

ASSERTS, PARSER, TRANSLATES = "internal assertion", "the parser's ValueError", "translates"
#: bad-input case -> (what the translator once said in English, what it does now unvalidated). The validator
#: now says it, in en and zh.
REFUSED = {
    "dr-tls-simple-not-in-lab.yaml": ("tls.mode SIMPLE ... is not supported by the lab", ASSERTS),
    "dr-subset-tls-mutual-not-in-lab.yaml": ("tls.mode MUTUAL ... is not supported by the lab", ASSERTS),
    "dr-loadbalancer-passthrough-not-in-lab.yaml": ("PASSTHROUGH is not supported by the lab", ASSERTS),
    "dr-host-empty.yaml": ("a DestinationRule needs a host", ASSERTS),
    "dr-subset-without-name.yaml": ("a subset needs a name", ASSERTS),
    "dr-subset-defined-twice.yaml": ("subset 'v1' is defined twice", TRANSLATES),  # checked once: validator
    "dr-maxconnections-quoted.yaml": ("must be a whole number >= 0", TRANSLATES),
    "dr-interval-words.yaml": ("is not a duration like '3s'", PARSER),
    "dr-maxejectionpercent-101.yaml": ("is a percentage", TRANSLATES),
    "dr-h2upgradepolicy-lowercase.yaml": ("must be one of DEFAULT, DO_NOT_UPGRADE, UPGRADE", TRANSLATES),
    "dr-portlevelsettings-without-port.yaml": ("must be a port number", TRANSLATES),
    "vs-host-empty.yaml": ("empty host", ASSERTS),
    "vs-destination-host-empty.yaml": ("missing destination host", ASSERTS),
    "vs-route-without-destination.yaml": ("missing destination host", ASSERTS),
    "vs-empty-http-route.yaml": ("(an AttributeError)", ASSERTS),
    "vs-redirect-not-in-lab.yaml": ("an http route needs at least one destination", ASSERTS),
    "vs-weights-add-up-to-zero.yaml": ("the weights ... must add up to more than 0", ASSERTS),
    "vs-timeout-too-long.yaml": ("(none: Envoy refused the duration)", PARSER),
    "vs-empty-string-match.yaml": ("(nothing: `uri: {}` matched every path)", TRANSLATES),
    "vs-header-match-null.yaml": ("(a TypeError)", ASSERTS),
    "vs-fault-grpcstatus-not-in-lab.yaml": ("gRPC aborts are not supported by the lab", ASSERTS),
    "vs-fault-http2error.yaml": ("abort needs httpStatus", ASSERTS),
    "vs-fault-exponentialdelay.yaml": ("'None' is not a duration", ASSERTS),
    "service-port-zero.yaml": ("must be a port number, got 0", ASSERTS),
}


def _objects(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((CASES / name).read_text()) if d]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_validator_refuses_it_at_its_line_in_both_languages(name: str) -> None:
    path = CASES / name
    errors = [p for p in validate_files([path]) if p.is_error]
    assert errors, f"{name}: the validator accepts what the translator once refused ({REFUSED[name][0]})"
    for p in errors:
        assert str(p).startswith(f"{path}:{p.line}: ") and p.fix, str(p)
        assert p.in_lang("zh") != str(p), f"no Chinese for: {p}"


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unvalidated_it_is_an_internal_error_never_a_student_error(name: str) -> None:
    objects = _objects(name)
    if not any(o.get("kind") == "Service" for o in objects):
        objects = [SERVICE, *objects]
    outcome = REFUSED[name][1]
    if outcome == TRANSLATES:
        translate(objects, seed_endpoints(), mtls=MESH_TLS)
        return
    expected = UnvalidatedInput if outcome == ASSERTS else DurationError
    with pytest.raises(expected) as info:
        translate(objects, seed_endpoints(), mtls=MESH_TLS)
    assert not isinstance(info.value, LabError)


def test_an_internal_assertion_names_the_object_and_the_field() -> None:
    with pytest.raises(UnvalidatedInput, match=r"DestinationRule/service-go: spec\.trafficPolicy\.tls\.mode"):
        translate([SERVICE, dr({"host": "service-go", "trafficPolicy": {"tls": {"mode": "SIMPLE"}}})],
                  seed_endpoints(), mtls=MESH_TLS)


TLS_MODES = ["DISABLE", "ISTIO_MUTUAL", "SIMPLE", "MUTUAL", None]


@pytest.mark.parametrize("mode", TLS_MODES)
@pytest.mark.parametrize("where", ["top", "subset", "port level"])
def test_whatever_tls_the_validator_accepts_translates_with_mtls(mode: str | None, where: str) -> None:
    tls = {} if mode is None else {"mode": mode}
    spec: dict[str, Any] = {"host": "service-go", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}
    if where == "top":
        spec["trafficPolicy"] = {"tls": tls}
    elif where == "subset":
        spec["subsets"][0]["trafficPolicy"] = {"tls": tls}
    else:
        spec["trafficPolicy"] = {"portLevelSettings": [{"port": {"number": 80}, "tls": tls}]}
    rule = dr(spec)
    objects, problems = parse_manifests(yaml.safe_dump(rule), "dr.yaml")
    errors = [p for p in problems if p.is_error]
    if mode in ("SIMPLE", "MUTUAL"):
        assert errors and "not supported by this lab" in errors[0].message
        return
    assert not errors, [str(p) for p in errors]
    config = translate([SERVICE, *objects], seed_endpoints(), mtls=MESH_TLS)
    assert config.cluster("outbound|80|v1|service-go.default.svc.cluster.local")


def test_faults_istio_drops_are_dropped_and_warned_about_once() -> None:
    route = {"route": [{"destination": {"host": "service-go"}}]}
    faults = {
        "abort without httpStatus": {"abort": {"percentage": {"value": 50}}},
        "delay without fixedDelay": {"delay": {"percentage": {"value": 50}}},
    }
    for why, fault in faults.items():
        service = vs({"hosts": ["service-go"], "http": [{**copy.deepcopy(route), "fault": fault}]})
        objects, problems = parse_manifests(yaml.safe_dump(service), "vs.yaml")
        assert [p.severity for p in problems] == ["warning"], (why, [str(p) for p in problems])
        config = translate([SERVICE, *objects], seed_endpoints())
        (envoy_route,) = config.route_configuration(80)["virtual_hosts"][0]["routes"]
        assert "typed_per_filter_config" not in envoy_route, why  # as Istio's TranslateFault: nothing left
        assert config.warnings == []
