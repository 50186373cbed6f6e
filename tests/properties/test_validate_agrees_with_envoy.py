"""Property: whatever DestinationRule or VirtualService a student writes, ``validate`` either reports a
positioned error (``FILE:LINE: message; fix``), or the lab's translation of it is accepted by real Envoy
(``envoy --mode validate``). A value that passes validation but that Envoy refuses is a validator bug: the lab
would show a rule that no sidecar runs.

Examples come from the schema (every field the translator reads, values on and around Istio's and Envoy's
bounds, wrong types) and from mutations of the lab's own manifests (manifests/istio/**). Envoy costs a
process start, so each hypothesis example is a batch of manifests validated in one bootstrap, bisected only
when Envoy refuses it. The default run checks a few hundred; ``-m slow`` thousands.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from translate_helpers import SERVICE_GO, envoy_validate, listener, seed_endpoints

from lablib.manifests import Problem, load_files, validate_files
from lablib.translate import translate

pytestmark = pytest.mark.envoy

REPO = Path(__file__).resolve().parents[2]
LAB_RULES = sorted((REPO / "manifests" / "istio").rglob("*.yaml"))
SEED_DR = REPO / "manifests" / "istio" / "resilience" / "destination-rule-go-cb.yaml"
PODS = ("service-go-v1-0", "service-go-v2-0")
BATCH = 40


def _often(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values, sometimes an edge or a wrong type: enough examples reach Envoy."""
    return st.one_of(*([valid] * 6), edge)


WRONG = st.sampled_from([True, "10", 1.5, math.nan, math.inf, -math.inf, None, [], {}, "abc", {"value": 3}])
INT_EDGES = st.sampled_from(
    [0, 1, 100, 101, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, -1, 10**30]
)
COUNT = _often(st.integers(0, 1000), st.one_of(INT_EDGES, WRONG))
PERCENT_INT = _often(st.integers(0, 100), st.one_of(INT_EDGES, WRONG))
DURATION = _often(
    st.sampled_from(["1ms", "30ms", "100ms", "1s", "3s", "1.5s", "1m30s", "3m", "1h", "720h"]),
    st.one_of(
        st.sampled_from(
            ["0s", "0.5ms", "1500us", "999999999999h", "2562047h", "2562048h", "-1s", "3 seconds"]
        ),
        WRONG,
    ),
)
KEEPALIVE = _often(st.sampled_from(["1s", "75s", "2m", "1h"]), DURATION)


def _block(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


CONNECTION_POOL = _block(
    tcp=_block(
        maxConnections=COUNT,
        connectTimeout=DURATION,
        tcpKeepalive=_block(probes=COUNT, time=KEEPALIVE, interval=KEEPALIVE),
        maxConnectionDuration=DURATION,
        idleTimeout=DURATION,
    ),
    http=_block(
        http1MaxPendingRequests=COUNT,
        http2MaxRequests=COUNT,
        maxRequestsPerConnection=COUNT,
        maxRetries=COUNT,
        idleTimeout=DURATION,
        h2UpgradePolicy=_often(st.sampled_from(["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"]), st.just("upgrade")),
        useClientProtocol=_often(st.booleans(), st.just("true")),
        maxConcurrentStreams=COUNT,
    ),
)
OUTLIER = _block(
    consecutive5xxErrors=COUNT,
    consecutiveGatewayErrors=COUNT,
    splitExternalLocalOriginErrors=st.booleans(),
    consecutiveLocalOriginFailures=COUNT,
    interval=DURATION,
    baseEjectionTime=DURATION,
    maxEjectionPercent=PERCENT_INT,
    minHealthPercent=PERCENT_INT,
)
TABLE_SIZES = st.sampled_from([0, 1, 1024, 65537, 65536, 5000011, 5000012, 8388608, 8388609, 2**64 - 1])
SIMPLE = _often(
    st.sampled_from(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "UNSPECIFIED"]),
    st.sampled_from(["round", "PASSTHROUGH"]),  # PASSTHROUGH: valid Istio, not in the lab
)
CONSISTENT_HASH = st.one_of(
    st.fixed_dictionaries({"ringHash": _block(minimumRingSize=TABLE_SIZES)}),
    st.fixed_dictionaries({"maglev": _block(tableSize=TABLE_SIZES)}),
)
# warmupDurationSecs together with consistentHash found a translator bug (two lb configs in one oneof):
# test_warmup_with_consistent_hash_gives_one_lb_config below.
LOAD_BALANCER = _block(simple=SIMPLE, warmupDurationSecs=DURATION, consistentHash=CONSISTENT_HASH)
RETRY_BUDGET = _block(
    percent=_often(
        st.floats(0, 100, allow_nan=False), st.sampled_from([100.5, -1, math.nan, {"value": 0.3}, "20"])
    ),
    minRetryConcurrency=COUNT,
)
# SIMPLE and MUTUAL are valid Istio the lab cannot run; translate() ignores tls without mTLS, but must not
# be handed them.
TLS = _block(mode=_often(st.sampled_from(["DISABLE", "ISTIO_MUTUAL"]), st.sampled_from(["SIMPLE", "MUTUAL"])))
POLICY_BLOCKS = {
    "connectionPool": CONNECTION_POOL,
    "outlierDetection": OUTLIER,
    "loadBalancer": LOAD_BALANCER,
    "retryBudget": RETRY_BUDGET,
    "tls": TLS,
}
PORT_POLICY = st.fixed_dictionaries(
    {},
    optional={
        "port": st.fixed_dictionaries({"number": _often(st.just(80), st.sampled_from([0, 65536, "80"]))}),
        **{k: v for k, v in POLICY_BLOCKS.items() if k != "retryBudget"},
    },
)
POLICY = _block(**POLICY_BLOCKS, portLevelSettings=st.lists(PORT_POLICY, max_size=2))
SUBSET = st.fixed_dictionaries(
    {"name": st.sampled_from(["v1", "v2"])},
    optional={"labels": st.sampled_from([{"version": "v1"}, {"version": "v2"}]), "trafficPolicy": POLICY},
)
DR_SPEC = st.fixed_dictionaries(
    {"host": st.sampled_from(["service-go", "service-go.default.svc.cluster.local"])},
    optional={
        "trafficPolicy": POLICY,
        "subsets": st.lists(SUBSET, max_size=2, unique_by=lambda s: s["name"]),
    },
)
DESTINATION = st.fixed_dictionaries(
    {
        "destination": st.fixed_dictionaries(
            {"host": _often(st.just("service-go"), st.just(""))},
            optional={"subset": st.sampled_from(["v1", "v2"]), "port": st.just({"number": 80})},
        )
    },
    optional={"weight": _often(st.integers(0, 100), st.one_of(INT_EDGES, WRONG))},
)
PERCENTAGE = st.fixed_dictionaries(
    {"value": _often(st.floats(0, 100, allow_nan=False), st.sampled_from([101, -1, math.inf, "5"]))}
)
REGEXES = st.sampled_from(["j.*", "/env/[0-9]+", "(a|b)+", "(", "a(?=b)", "(a)\\1", "a{1000}", "[z-a]", ""])
STRING_MATCH = _often(
    st.sampled_from([{"prefix": "/env"}, {"exact": "/status"}, {"regex": "/st.*"}]),
    st.one_of(
        st.sampled_from([{}, {"exact": "/a", "prefix": "/b"}, {"prefix": 5}]),
        REGEXES.map(lambda r: {"regex": r}),
    ),
)
HTTP_ROUTE = st.fixed_dictionaries(
    {"route": st.lists(DESTINATION, min_size=1, max_size=3)},
    optional={
        "match": st.lists(
            _block(uri=STRING_MATCH, headers=st.dictionaries(st.just("x-user"), STRING_MATCH)), max_size=2
        ),
        "timeout": DURATION,
        "retries": _block(
            attempts=_often(st.integers(0, 10), st.one_of(INT_EDGES, WRONG)),
            perTryTimeout=DURATION,
            retryOn=st.sampled_from(["5xx", "gateway-error,reset", "503"]),
        ),
        "fault": _block(
            abort=st.fixed_dictionaries(
                {},
                optional={
                    "httpStatus": _often(st.sampled_from([500, 503]), st.sampled_from([0, 99, 600, 2**31])),
                    "grpcStatus": st.just("UNAVAILABLE"),  # valid Istio, not in the lab
                    "http2Error": st.just("REFUSED_STREAM"),  # refused by Istio
                    "percentage": PERCENTAGE,
                },
            ),
            delay=st.fixed_dictionaries(
                {},
                optional={"fixedDelay": DURATION, "exponentialDelay": DURATION, "percentage": PERCENTAGE},
            ),
        ),
        "redirect": st.just({"uri": "/status"}),  # valid Istio, not in the lab
    },
)
VS_SPEC = st.fixed_dictionaries(
    {"hosts": st.just(["service-go"]), "http": st.lists(HTTP_ROUTE, min_size=1, max_size=2)}
)


def _object(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": kind,
        "metadata": {"name": "service-go", "namespace": "default"},
        "spec": spec,
    }


GENERATED = st.one_of(
    DR_SPEC.map(lambda spec: [_object("DestinationRule", spec)]),
    st.tuples(DR_SPEC, VS_SPEC).map(
        lambda t: [_object("DestinationRule", t[0]), _object("VirtualService", t[1])]
    ),
)

# --- mutations of the lab's manifests -----------------------------------------------------------------------
LAB_DOCS = [d for path in LAB_RULES for d in yaml.safe_load_all(path.read_text()) if d]
REPLACEMENTS = st.one_of(
    INT_EDGES, WRONG, DURATION, st.sampled_from(["v3", "UPGRADE", {"value": 101}, [1, 2], "4294967296s"])
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at] if at else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*at, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> list[dict[str, Any]]:
    doc = copy.deepcopy(draw(st.sampled_from(LAB_DOCS)))
    path = draw(st.sampled_from([p for p in _paths(doc) if p[0] == "spec"]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    op = draw(st.sampled_from(["replace", "replace", "delete", "unknown"]))
    if op == "replace":
        parent[path[-1]] = draw(REPLACEMENTS)
    elif op == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[f"{path[-1]}X"] = parent.pop(path[-1])
    return [doc]


# --- the property -------------------------------------------------------------------------------------------
def _context() -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_files([SERVICE_GO])


CONTEXT = _context()


def _positioned(problem: Problem, path: Path) -> bool:
    return problem.line >= 1 and bool(problem.fix) and str(problem).startswith(f"{path}:{problem.line}: ")


def _rename(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


def _resources(index: int, objects: list[Any]) -> tuple[list[Any], list[Any]]:
    """Clusters and listeners of one example, renamed ``e<index>/…`` so that many share one bootstrap."""
    config = translate(objects, seed_endpoints())
    prefix = f"e{index}/"
    outbound = config.static_clusters()
    names = {c["name"]: prefix + c["name"] for c in outbound}
    clusters = [_rename(c, names) for c in outbound]
    inbound = [(pod, c) for pod in PODS for c in config.static_clusters(pod)]
    clusters += [{**c, "name": f"{prefix}{pod}/{c['name']}"} for pod, c in inbound]
    listeners = []
    for route in config.outbound_routes:
        renamed = _rename(route, names)
        renamed["name"] = prefix + route["name"]
        listeners.append(listener(renamed))
    return clusters, listeners


def _envoy_accepts(parts: list[tuple[list[Any], list[Any]]]) -> tuple[bool, str]:
    bootstrap = {
        "static_resources": {
            "clusters": [c for clusters, _ in parts for c in clusters],
            "listeners": [x for _, listeners in parts for x in listeners],
        }
    }
    result = envoy_validate(bootstrap)
    return result.returncode == 0, result.stdout + result.stderr


def check(examples: list[list[dict[str, Any]]]) -> int:
    """Validate each example; translate the valid ones; Envoy must accept them all. Returns how many reached
    Envoy."""
    accepted: list[tuple[list[dict[str, Any]], tuple[list[Any], list[Any]]]] = []
    with tempfile.TemporaryDirectory(prefix="lablib-props-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LabWarnings of valid examples: not what this test is about
        for i, docs in enumerate(examples):
            path = Path(tmp) / f"example-{i}.yaml"
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            problems = validate_files([path], context=CONTEXT)
            errors = [p for p in problems if p.is_error]
            if errors:
                assert all(_positioned(p, path) for p in errors), [str(p) for p in errors]
                continue
            objects = [*CONTEXT, *load_files([path], context=CONTEXT)]
            accepted.append((docs, _resources(i, objects)))
    if not accepted:
        return 0
    ok, said = _envoy_accepts([parts for _, parts in accepted])
    if not ok:  # bisect down to one example Envoy refuses, and show it
        suspects = accepted
        while len(suspects) > 1:
            half = suspects[: len(suspects) // 2]
            suspects = half if not _envoy_accepts([p for _, p in half])[0] else suspects[len(half) :]
        ok_one, said_one = _envoy_accepts([suspects[0][1]])
        detail = said_one if not ok_one else said
        pytest.fail(
            "validate passed a manifest that Envoy refuses:\n"
            + yaml.safe_dump_all(suspects[0][0], sort_keys=False)
            + "\n--- envoy said ---\n"
            + "\n".join(line[:600] for line in detail.splitlines() if not line.startswith("{"))[-3000:]
        )
    return len(accepted)


EXAMPLES = st.lists(st.one_of(GENERATED, mutated()), min_size=BATCH, max_size=BATCH)
SETTINGS = {
    # no shrinking: a failing batch is already bisected down to the one manifest Envoy refuses
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
    "deadline": None,
    "derandomize": False,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # a batch's repr is large
@settings(max_examples=10, **SETTINGS)  # 10 batches of 40: 400 manifests, ~10 Envoy runs
@given(EXAMPLES)
def test_validate_reports_a_positioned_error_or_envoy_accepts_the_translation(
    examples: list[list[dict[str, Any]]],
) -> None:
    check(examples)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=150, **SETTINGS)  # 6,000 manifests
@given(EXAMPLES)
def test_thousands_of_manifests_validate_or_reach_envoy(examples: list[list[dict[str, Any]]]) -> None:
    check(examples)


def test_the_property_reaches_envoy_and_catches_a_refusal() -> None:
    """The property is not vacuous: the lab's rules reach Envoy, and a translation Envoy refuses fails it."""
    seed = [d for d in yaml.safe_load_all(SEED_DR.read_text()) if d]
    assert check([seed, *[[d] for d in LAB_DOCS]]) >= 2
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "seed.yaml"
        path.write_text(SEED_DR.read_text())
        clusters, listeners = _resources(0, [*CONTEXT, *load_files([path], context=CONTEXT)])
    broken = json.loads(json.dumps(clusters))
    broken[-1]["circuit_breakers"]["thresholds"][0]["max_connections"] = 2**32  # past Envoy's uint32
    ok, said = _envoy_accepts([(broken, listeners)])
    assert not ok and "max_connections" in said


def test_warmup_with_consistent_hash_gives_one_lb_config() -> None:
    """Istio's applyRoundRobinLoadBalancer sets the cluster's LbConfig (slow start), then
    ApplyRingHashLoadBalancer replaces it (one oneof); lablib.translate used to keep both
    round_robin_lb_config and maglev_lb_config, which Envoy refuses. Found by the property above."""
    rule = _object(
        "DestinationRule",
        {
            "host": "service-go",
            "trafficPolicy": {
                "loadBalancer": {
                    "simple": "ROUND_ROBIN",
                    "warmupDurationSecs": "90s",
                    "consistentHash": {"maglev": {"tableSize": 65537}},
                }
            },
        },
    )
    assert check([[rule]]) == 1
