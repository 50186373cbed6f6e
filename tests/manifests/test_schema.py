"""One object at a time: unknown fields, wrong types, bad durations, out-of-range values, missing fields,
deprecations and Istio's 0-means-unset, each reported at its line with the fix."""

from __future__ import annotations

import textwrap

import pytest

from lablib import ValidationFailed
from lablib.manifests import load_file, validate_files

DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: service-go
spec:
  host: service-go
  trafficPolicy:
{policy}
  subsets:
  - name: v1
    labels:
      version: v1
"""


def dr(policy: str) -> str:
    return DR.format(policy=textwrap.indent(textwrap.dedent(policy).strip("\n"), "    "))


VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: service-go
spec:
  hosts:
  - service-go
  http:
{http}
"""


def vs(http: str) -> str:
    return VS.format(http=textwrap.indent(textwrap.dedent(http).strip("\n"), "  "))


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: service-go-v1
spec:
  replicas: 1
  selector:
    matchLabels: {app: service-go, version: v1}
  template:
    metadata:
      labels: {app: service-go, version: v1}
    spec:
      containers:
      - name: service-go
        image: lablib/service-go:v1
{container}
"""


def deployment(container: str) -> str:
    return DEPLOYMENT.replace(
        "{container}\n", textwrap.indent(textwrap.dedent(container).strip("\n"), "        ") + "\n"
    )


TCP_POOL = "connectionPool:\n  tcp:\n"
HTTP_POOL = "connectionPool:\n  http:\n"
OUTLIER = "outlierDetection:\n"
POOL_PATH = "spec.trafficPolicy.connectionPool"
OD_PATH = "spec.trafficPolicy.outlierDetection"

# (sentence, text, marker on the expected line, severity, path, in the message, in the fix)
CASES = [
    (
        "a misspelt maxConnections is an unknown field with 'did you mean'",
        dr(TCP_POOL + "    maxConnection: 10"),
        "maxConnection:",
        "error",
        f"{POOL_PATH}.tcp.maxConnection",
        "unknown field 'maxConnection'",
        "did you mean 'maxConnections'?",
    ),
    (
        "maxConnections under http is told to move under tcp",
        dr(HTTP_POOL + "    maxConnections: 10"),
        "maxConnections:",
        "error",
        f"{POOL_PATH}.http.maxConnections",
        "does not belong here",
        "connectionPool.tcp",
    ),
    (
        "a misspelt outlier field gets 'did you mean'",
        dr(OUTLIER + "  consecutive5xxError: 3"),
        "consecutive5xxError:",
        "error",
        f"{OD_PATH}.consecutive5xxError",
        "unknown field",
        "did you mean 'consecutive5xxErrors'?",
    ),
    (
        "an unknown field with no close match lists the fields of its block",
        dr(TCP_POOL + "    maxConnections: 10\n    banana: 1"),
        "banana",
        "error",
        f"{POOL_PATH}.tcp.banana",
        "unknown field 'banana'",
        "maxConnections, connectTimeout",
    ),
    (
        "a quoted number where Istio wants an integer",
        dr(HTTP_POOL + '    http2MaxRequests: "10"'),
        "http2MaxRequests",
        "error",
        f"{POOL_PATH}.http.http2MaxRequests",
        "expected an integer, got the string '10'",
        "write 10 without quotes",
    ),
    (
        "a decimal where Istio wants an integer",
        dr(TCP_POOL + "    maxConnections: 10.5"),
        "maxConnections",
        "error",
        f"{POOL_PATH}.tcp.maxConnections",
        "expected an integer",
        "whole number",
    ),
    (
        "a boolean field given a string",
        dr(HTTP_POOL + "    useClientProtocol: yes please"),
        "useClientProtocol",
        "error",
        f"{POOL_PATH}.http.useClientProtocol",
        "expected true or false",
        "true or false",
    ),
    (
        "a duration with an unknown unit",
        dr(OUTLIER + "  interval: 3x"),
        "interval",
        "error",
        f"{OD_PATH}.interval",
        "'3x' is not a duration",
        "1m30s",
    ),
    (
        "a duration without a unit",
        dr(OUTLIER + "  baseEjectionTime: 180"),
        "baseEjectionTime",
        "error",
        f"{OD_PATH}.baseEjectionTime",
        "expected a duration",
        "add a unit: 180s",
    ),
    (
        "a duration below Istio's 1ms minimum",
        dr(TCP_POOL + "    connectTimeout: 0.5ms"),
        "connectTimeout",
        "error",
        f"{POOL_PATH}.tcp.connectTimeout",
        "shorter than 1ms",
        "1ms or more",
    ),
    (
        "a zero duration",
        dr(OUTLIER + "  interval: 0s"),
        "interval",
        "error",
        f"{OD_PATH}.interval",
        "shorter than 1ms",
        "1ms",
    ),
    (
        "a duration finer than a millisecond",
        dr(OUTLIER + "  interval: 1500us"),
        "interval",
        "error",
        f"{OD_PATH}.interval",
        "millisecond precision",
        "whole milliseconds",
    ),
    (
        "maxEjectionPercent above 100",
        dr(OUTLIER + "  maxEjectionPercent: 120"),
        "maxEjectionPercent",
        "error",
        f"{OD_PATH}.maxEjectionPercent",
        "120 is above 100",
        "from 0 to 100",
    ),
    (
        "minHealthPercent above 100",
        dr(OUTLIER + "  minHealthPercent: 101"),
        "minHealthPercent",
        "error",
        f"{OD_PATH}.minHealthPercent",
        "101 is above 100",
        "from 0 to 100",
    ),
    (
        "a negative connection limit",
        dr(TCP_POOL + "    maxConnections: -1"),
        "maxConnections",
        "error",
        f"{POOL_PATH}.tcp.maxConnections",
        "-1 is negative",
        "at least 0",
    ),
    (
        "a negative consecutive5xxErrors",
        dr(OUTLIER + "  consecutive5xxErrors: -3"),
        "consecutive5xxErrors",
        "error",
        f"{OD_PATH}.consecutive5xxErrors",
        "-3 is negative",
        "at least 0",
    ),
    (
        "0 pending requests is unset in Istio, not zero",
        dr(HTTP_POOL + "    http1MaxPendingRequests: 0"),
        "http1MaxPendingRequests",
        "warning",
        f"{POOL_PATH}.http.http1MaxPendingRequests",
        "2^32-1 (4294967295)",
        "at least 1",
    ),
    (
        "0 connections is unset in Istio, not zero",
        dr(TCP_POOL + "    maxConnections: 0"),
        "maxConnections",
        "warning",
        f"{POOL_PATH}.tcp.maxConnections",
        "Istio treats 0 as unset",
        "at least 1",
    ),
    (
        "consecutiveErrors teaches that Istio ignores it and what to write instead",
        dr(OUTLIER + "  consecutiveErrors: 3"),
        "consecutiveErrors",
        "warning",
        f"{OD_PATH}.consecutiveErrors",
        "ignored by istio >= 1.7, so envoy's default applies: a host is ejected after 5 consecutive 5xx",
        "consecutive5xxErrors: 3` (every 5xx counts, 500 included) or `consecutiveGatewayErrors: 3` "
        "(only 502",
    ),
    (
        "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors",
        dr(OUTLIER + "  consecutiveLocalOriginFailures: 2"),
        "consecutiveLocalOriginFailures",
        "error",
        f"{OD_PATH}.consecutiveLocalOriginFailures",
        "splitExternalLocalOriginErrors",
        "splitExternalLocalOriginErrors: true",
    ),
    (
        "an enum in the wrong case",
        dr(HTTP_POOL + "    h2UpgradePolicy: upgrade"),
        "h2UpgradePolicy",
        "error",
        f"{POOL_PATH}.http.h2UpgradePolicy",
        "expected one of DEFAULT, DO_NOT_UPGRADE, UPGRADE",
        "did you mean 'UPGRADE'?",
    ),
    (
        "an empty connectionPool",
        dr("connectionPool: {}"),
        "connectionPool",
        "error",
        POOL_PATH,
        "at least one of `tcp` or `http`",
        "tcp",
    ),
    (
        "a subset label value that YAML reads as a number",
        DR.format(policy="    loadBalancer: {simple: ROUND_ROBIN}").replace("version: v1", "version: 1.0"),
        "version: 1.0",
        "error",
        "spec.subsets[0].labels.version",
        "got the number 1.0",
        'quote it: "1.0"',
    ),
    (
        "a subset name that is not a DNS label",
        DR.format(policy="    loadBalancer: {simple: ROUND_ROBIN}").replace("name: v1", "name: V_1"),
        "name: V_1",
        "error",
        "spec.subsets[0].name",
        "'V_1' is not valid",
        "rename",
    ),
    (
        "a DestinationRule without host",
        DR.format(policy="    loadBalancer: {simple: ROUND_ROBIN}").replace("  host: service-go\n", ""),
        "spec:",
        "error",
        "spec.host",
        "missing required field 'host'",
        "host: <service name>",
    ),
    (
        "an object without metadata.name",
        DR.format(policy="    loadBalancer: {simple: ROUND_ROBIN}").replace(
            "  name: service-go\n", "  labels: {}\n"
        ),
        "metadata:",
        "error",
        "metadata.name",
        "missing required field 'name'",
        "name:",
    ),
    (
        "a VirtualService without hosts",
        vs("- route:\n  - destination: {host: service-go}").replace("  hosts:\n  - service-go\n", ""),
        "spec:",
        "error",
        "spec.hosts",
        "missing required field 'hosts'",
        "hosts:",
    ),
    (
        "a VirtualService whose hosts is a string, not a list",
        vs("- route:\n  - destination: {host: service-go}").replace(
            "  hosts:\n  - service-go\n", "  hosts: service-go\n"
        ),
        "hosts:",
        "error",
        "spec.hosts",
        "expected a list",
        "- service-go",
    ),
    (
        "a negative route weight",
        vs("- route:\n  - destination: {host: service-go}\n    weight: -10"),
        "weight",
        "error",
        "spec.http[0].route[0].weight",
        "-10 is negative",
        "at least 0",
    ),
    (
        "weights that add up to zero",
        vs(
            "- route:\n  - destination: {host: service-go}\n    weight: 0\n"
            "  - destination: {host: service-go}\n    weight: 0"
        ),
        "- route:",
        "error",
        "spec.http[0].route",
        "add up to 0",
        "weight",
    ),
    (
        "a misspelt weight",
        vs("- route:\n  - destination: {host: service-go}\n    weigth: 50"),
        "weigth",
        "error",
        "spec.http[0].route[0].weigth",
        "unknown field 'weigth'",
        "did you mean 'weight'?",
    ),
    (
        "a route destination without host",
        vs("- route:\n  - destination: {subset: v1}"),
        "destination:",
        "error",
        "spec.http[0].route[0].destination.host",
        "missing required field 'host'",
        "host:",
    ),
    (
        "an http route with nowhere to go",
        vs("- timeout: 3s"),
        "timeout",
        "error",
        "spec.http[0]",
        "needs `route`",
        "route:",
    ),
    (
        "a route timeout without unit",
        vs("- timeout: 10\n  route:\n  - destination: {host: service-go}"),
        "timeout",
        "error",
        "spec.http[0].timeout",
        "expected a duration",
        "10s",
    ),
    (
        "retry attempts written as a word",
        vs("- retries: {attempts: three}\n  route:\n  - destination: {host: service-go}"),
        "retries",
        "error",
        "spec.http[0].retries.attempts",
        "expected an integer",
        "write an integer",
    ),
    (
        "the deprecated fault percent",
        vs("- fault: {abort: {percent: 50, httpStatus: 500}}\n  route:\n  - destination: {host: service-go}"),
        "fault",
        "warning",
        "spec.http[0].fault.abort.percent",
        "deprecated",
        "percentage: {value: 50}",
    ),
    (
        "a misspelt imagePullPolicy on a container is caught even though containers are lenient",
        deployment("imagePulPolicy: IfNotPresent"),
        "imagePulPolicy",
        "error",
        "spec.template.spec.containers[0].imagePulPolicy",
        "unknown field",
        "did you mean 'imagePullPolicy'?",
    ),
    (
        "an imagePullPolicy in the wrong case",
        deployment("imagePullPolicy: ifNotPresent"),
        "imagePullPolicy",
        "error",
        "spec.template.spec.containers[0].imagePullPolicy",
        "not allowed",
        "did you mean 'IfNotPresent'?",
    ),
    (
        "a negative CPU limit",
        deployment("resources:\n  limits: {cpu: -100m}"),
        "limits",
        "error",
        "spec.template.spec.containers[0].resources.limits.cpu",
        "negative",
        "positive quantity",
    ),
    (
        "a request above its limit",
        deployment("resources:\n  requests: {cpu: 200m}\n  limits: {cpu: 100m}"),
        "requests",
        "error",
        "spec.template.spec.containers[0].resources.requests.cpu",
        "above the limit",
        "lower the request",
    ),
    (
        "memory in millibytes",
        deployment("resources:\n  limits: {memory: 100m}"),
        "limits",
        "warning",
        "spec.template.spec.containers[0].resources.limits.memory",
        "thousandths of a byte",
        "100Mi",
    ),
    (
        "service-go args it cannot read (its pods would exit at start)",
        deployment('args: ["--service-time-ms", "abc"]'),
        "args:",
        "error",
        "spec.template.spec.containers[0].args",
        "invalid float value: 'abc'",
        "--service-time-ms",
    ),
    (
        "a service-go fault out of range",
        deployment('args: ["--fault-fraction", "1.5"]'),
        "args:",
        "error",
        "spec.template.spec.containers[0].args",
        "fault fraction must be between 0 and 1",
        "--fault-fraction",
    ),
    (
        "a flag service-go does not have",
        deployment('args: ["--delay", "200"]'),
        "args:",
        "error",
        "spec.template.spec.containers[0].args",
        "unrecognized arguments: --delay 200",
        "--fault-delay-ms",
    ),
    (
        "a containerPort in quotes",
        deployment('ports:\n- containerPort: "80"'),
        "containerPort",
        "error",
        "spec.template.spec.containers[0].ports[0].containerPort",
        "expected an integer",
        "without quotes",
    ),
    (
        "a negative replica count",
        deployment("").replace("replicas: 1", "replicas: -1"),
        "replicas",
        "error",
        "spec.replicas",
        "-1 is negative",
        "at least 0",
    ),
    (
        "a Deployment whose selector does not match its template",
        deployment("").replace(
            "matchLabels: {app: service-go, version: v1}", "matchLabels: {app: service-go, version: v2}"
        ),
        "matchLabels",
        "error",
        "spec.selector.matchLabels",
        "does not match the template's labels",
        "spec.template.metadata.labels",
    ),
]


@pytest.mark.parametrize(
    ("sentence", "text", "marker", "severity", "path", "message", "fix"), CASES, ids=[c[0] for c in CASES]
)
def test_each_bad_field_is_reported_at_its_line_with_the_fix(
    sentence, text, marker, severity, path, message, fix, write, actionable, line_of
):
    file = write("case.yaml", text)
    problems = validate_files([file])
    matching = [p for p in problems if p.path == path]
    assert len(matching) == 1, [str(p) for p in problems]
    p = matching[0]
    assert p.severity == severity
    assert message.lower() in p.message.lower()
    assert fix in p.fix
    actionable(p, file, line_of(text, marker))
    others = [q for q in problems if q is not p and q.is_error]
    assert others == [], f"only the one problem: {[str(q) for q in others]}"
    if severity == "error":
        with pytest.raises(ValidationFailed):
            load_file(file)
    else:
        assert load_file(file), "a warning does not stop the file from loading"


@pytest.mark.parametrize("duration", ["1h", "3m", "3s", "100ms", "1.5s", "1m30s", "1ms", "0.001s"])
def test_valid_istio_durations_are_accepted(duration, write):
    file = write("ok.yaml", dr(f"{OUTLIER}  interval: {duration}\n  baseEjectionTime: {duration}"))
    assert validate_files([file]) == []


@pytest.mark.parametrize(
    "api_version", ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"]
)
def test_every_served_istio_version_is_accepted(api_version, write):
    file = write(
        "ok.yaml", dr(TCP_POOL + "    maxConnections: 10").replace("networking.istio.io/v1", api_version)
    )
    (rule,) = load_file(file)
    assert rule.api_version == api_version


@pytest.mark.parametrize(
    ("sentence", "header", "path", "fix"),
    [
        (
            "an unsupported kind lists the supported ones",
            "apiVersion: apps/v1\nkind: DaemonSet",
            "kind",
            "supported: Pod and Service (v1), Deployment (apps/v1), VirtualService, DestinationRule and "
            "Sidecar (networking.istio.io/v1, v1beta1 or v1alpha3)",
        ),
        (
            "a misspelt kind gets 'did you mean'",
            "apiVersion: networking.istio.io/v1\nkind: DestinationRules",
            "kind",
            "did you mean 'DestinationRule'?",
        ),
        (
            "Istio's removed v1alpha2 is not served",
            "apiVersion: networking.istio.io/v1alpha2\nkind: DestinationRule",
            "apiVersion",
            "use `apiVersion: networking.istio.io/v1`",
        ),
        (
            "an old Deployment apiVersion",
            "apiVersion: extensions/v1beta1\nkind: Deployment",
            "apiVersion",
            "use `apiVersion: apps/v1`",
        ),
        ("a missing kind", "apiVersion: v1", "kind", "add `kind:`"),
    ],
)
def test_kinds_and_versions_outside_the_lab_are_errors(
    sentence, header, path, fix, write, actionable, line_of
):
    text = header + "\nmetadata:\n  name: x\nspec: {}\n"
    file = write("kind.yaml", text)
    (p,) = validate_files([file])
    assert p.path == path and p.severity == "error" and fix in p.fix, str(p)
    actionable(p, file, line_of(text, f"{path}:") if f"{path}:" in text else 1)


def test_kubernetes_fields_the_lab_does_not_model_are_accepted(write):
    text = deployment(
        "stdin: true\nterminationMessagePolicy: File\nreadinessProbe: {httpGet: {path: /status, port: 80}}"
    ).replace("  replicas: 1\n", "  replicas: 1\n  strategy: {type: RollingUpdate}\n  someFutureField: 1\n")
    assert validate_files([write("ok.yaml", text)]) == []


def test_a_service_with_two_unnamed_ports_is_an_error(write, actionable, line_of):
    text = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: service-go\nspec:\n  selector: {app: service-go}\n"
        "  ports:\n  - port: 80\n  - port: 8080\n"
    )
    file = write("svc.yaml", text)
    problems = validate_files([file])
    assert [p.path for p in problems] == ["spec.ports[0]", "spec.ports[1]"]
    actionable(problems[1], file, line_of(text, "8080"))


def test_problems_know_their_object(write):
    (p,) = validate_files([write("x.yaml", dr(TCP_POOL + "    maxConnection: 10"))])
    assert (p.kind, p.name) == ("DestinationRule", "service-go")
    assert p.text.startswith(
        "DestinationRule/service-go: spec.trafficPolicy.connectionPool.tcp.maxConnection: "
    )


def test_a_broken_proxy_config_annotation_is_an_error(write, manifests_dir, actionable, line_of):
    text = (manifests_dir / "kubernetes/fortio.yaml").read_text(encoding="utf-8")
    broken = text.replace('inclusionPrefixes: ["cluster.outbound",', 'inclusionPrefixes: ["cluster.outbound"')
    broken = broken.replace('"cluster.xds-grpc"]', '"cluster.xds-grpc"')
    path = write("fortio.yaml", broken)
    (p,) = validate_files([path])
    assert p.path == 'metadata.annotations["proxy.istio.io/config"]' and "not YAML" in p.message
    actionable(p, path, line_of(broken, "proxy.istio.io/config"))
