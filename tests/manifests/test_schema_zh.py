"""The validator's field and schema messages in a Chinese notebook: every message and fix of a field (types,
ranges, unknown fields with "did you mean", misplaced fields, deprecations, durations, enums, kinds) is a
``Msg`` whose parts (``the string '10'``, ``an integer``) are Msgs too, so ``in_lang("zh")`` says the whole
sentence in Chinese, keeping FILE:LINE, the field path, names and numbers, while ``str()`` stays the English
the CLI and the other tests read."""

from __future__ import annotations

import re
import textwrap
import warnings

import pytest

from lablib import ValidationFailed
from lablib.i18n import render
from lablib.manifests import LabWarning, load_file, validate_files
from tests.support import CJK

DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: service-go
spec:
  host: service-go
  trafficPolicy:
{policy}
"""


def dr(policy: str) -> str:
    return DR.format(policy=textwrap.indent(textwrap.dedent(policy).strip("\n"), "    "))


def line_of(text: str, fragment: str) -> int:
    (line,) = [i for i, x in enumerate(text.splitlines(), start=1) if fragment in x]
    return line


POOL = "spec.trafficPolicy.connectionPool"
OD = "spec.trafficPolicy.outlierDetection"

# (case, policy, marker on the problem's line, field path, the exact English after the position, what the
# Chinese must say, names/numbers the Chinese keeps)
CASES = [
    (
        "wrong type: a quoted number",
        'connectionPool:\n  http:\n    http2MaxRequests: "10"',
        "http2MaxRequests",
        f"{POOL}.http.http2MaxRequests",
        "expected an integer, got the string '10'; write 10 without quotes",
        ["应为整数", "字符串 '10'", "去掉引号"],
        ["10"],
    ),
    (
        "out of range for Istio's int32",
        "outlierDetection:\n  maxEjectionPercent: 150",
        "maxEjectionPercent",
        f"{OD}.maxEjectionPercent",
        "150 is above 100; it must be at most 100 (Istio's type for this field is int32); "
        "use a value from 0 to 100",
        ["大于", "类型", "之间"],
        ["150", "100", "int32"],
    ),
    (
        "an unknown field with did-you-mean",
        "connectionPool:\n  tcp:\n    maxConnection: 10",
        "maxConnection:",
        f"{POOL}.tcp.maxConnection",
        "unknown field 'maxConnection'; did you mean 'maxConnections'?",
        ["未知字段", "是不是想写"],
        ["'maxConnection'", "'maxConnections'"],
    ),
    (
        "a field in the wrong block",
        "connectionPool:\n  http:\n    maxConnections: 10",
        "maxConnections",
        f"{POOL}.http.maxConnections",
        "'maxConnections' does not belong here; move it under spec.trafficPolicy.connectionPool.tcp or "
        "spec.trafficPolicy.portLevelSettings.connectionPool.tcp or "
        "spec.subsets.trafficPolicy.connectionPool.tcp",
        ["不应放在这里", "移到", " 或 "],
        ["spec.trafficPolicy.connectionPool.tcp", "spec.subsets.trafficPolicy.connectionPool.tcp"],
    ),
    (
        "a bad duration",
        "outlierDetection:\n  interval: 3 sec",
        "interval",
        f"{OD}.interval",
        "'3 sec' is not a duration; write a number with a unit (ms, s, m, h): 100ms, 3s, 1m30s, 1h",
        ["不是时长", "单位"],
        ["'3 sec'", "100ms、3s、1m30s、1h"],
    ),
    (
        "a duration finer than Istio's milliseconds",
        "outlierDetection:\n  baseEjectionTime: 1.0005s",
        "baseEjectionTime",
        f"{OD}.baseEjectionTime",
        "'1.0005s' is finer than a millisecond; Istio only supports millisecond precision; "
        "round it to whole milliseconds",
        ["毫秒"],
        ["'1.0005s'"],
    ),
    (
        "an enum value in the wrong case",
        "connectionPool:\n  http:\n    h2UpgradePolicy: upgrade",
        "h2UpgradePolicy",
        f"{POOL}.http.h2UpgradePolicy",
        "the string 'upgrade' is not allowed here, expected one of DEFAULT, DO_NOT_UPGRADE, UPGRADE; "
        "did you mean 'UPGRADE'?",
        ["这里不允许字符串 'upgrade'", "以下之一"],
        ["DEFAULT、DO_NOT_UPGRADE、UPGRADE", "'UPGRADE'"],
    ),
    (
        "a wrapper written as a mapping",
        "outlierDetection:\n  consecutive5xxErrors: {value: 3}",
        "consecutive5xxErrors",
        f"{OD}.consecutive5xxErrors",
        "expected a number, got a mapping: Istio types this field as google.protobuf.UInt32Value, which YAML "
        "writes as the number itself; write `consecutive5xxErrors: 3`",
        ["应为数字", "映射"],
        ["google.protobuf.UInt32Value", "`consecutive5xxErrors: 3`"],
    ),
]


@pytest.mark.parametrize(
    ("case", "policy", "marker", "path", "english", "chinese", "kept"), CASES, ids=[c[0] for c in CASES]
)
def test_a_field_error_reads_in_chinese_and_stays_english(
    case, policy, marker, path, english, chinese, kept, tmp_path
):
    text = dr(policy)
    file = tmp_path / "rule.yaml"
    file.write_text(text, encoding="utf-8")
    (p,) = validate_files([file])
    position = f"{file}:{line_of(text, marker)}: "
    assert str(p) == f"{position}DestinationRule/service-go: {path}: {english}"
    zh = p.in_lang("zh")
    assert zh.startswith(f"{position}DestinationRule/service-go: {path}: "), zh
    said = zh.removeprefix(f"{position}DestinationRule/service-go: {path}: ")
    assert CJK.search(said) and "；" in said, zh  # the message and its fix, in Chinese
    for words in chinese + kept:
        assert words in said, (words, zh)
    for english_word in ("expected", "got", "write", "unknown", "did you mean", "use ", "move it"):
        assert english_word not in said, (english_word, zh)
    # the same problem raised by load_file: the ValidationFailed and the problem's own error, in Chinese too
    with pytest.raises(ValidationFailed) as info:
        load_file(file)
    assert str(info.value) == f"1 error(s); nothing was applied:\n{p}"
    assert info.value.in_lang("zh").endswith(f"\n{zh}")
    assert CJK.search(info.value.in_lang("zh").splitlines()[0])
    assert CJK.search(p.as_error().in_lang("zh")) and path in p.as_error().in_lang("zh")


def test_the_deprecated_consecutive_errors_warns_in_chinese(tmp_path):
    text = dr("outlierDetection:\n  consecutiveErrors: 3\n  interval: 3s")
    file = tmp_path / "rule.yaml"
    file.write_text(text, encoding="utf-8")
    (p,) = validate_files([file])
    line = line_of(text, "consecutiveErrors")
    assert str(p) == (
        f"{file}:{line}: warning: DestinationRule/service-go: {OD}.consecutiveErrors: consecutiveErrors is "
        "deprecated and IGNORED by Istio >= 1.7, so Envoy's default applies: a host is ejected after 5 "
        "consecutive 5xx responses, not 3; use `consecutive5xxErrors: 3` (every 5xx counts, 500 included) or "
        "`consecutiveGatewayErrors: 3` (only 502, 503 and 504 count)"
    )
    zh = p.in_lang("zh")
    assert zh.startswith(f"{file}:{line}: 警告：DestinationRule/service-go: {OD}.consecutiveErrors: "), zh
    kept = ("`consecutive5xxErrors: 3`", "`consecutiveGatewayErrors: 3`")
    for words in ("已被弃用", "驱逐", "实例", "而不是 3 次", *kept):
        assert words in zh, (words, zh)
    # as load_file issues it: a LabWarning that a Chinese notebook shows in Chinese
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_file(file)
    (w,) = [w.message for w in caught if isinstance(w.message, LabWarning)]
    assert str(w) == str(p).split(": warning: ", 1)[1]
    assert "驱逐" in w.in_lang("zh") and "consecutiveErrors" in w.in_lang("zh")


@pytest.mark.parametrize(
    ("field", "chinese"),
    [
        ("http1MaxPendingRequests", "上限变成 2^32-1（4294967295）"),
        ("maxRequestsPerConnection", "每个连接承载的请求数不受限制"),
    ],
)
def test_zero_means_unset_warns_in_chinese(field, chinese, tmp_path):
    text = dr(f"connectionPool:\n  http:\n    {field}: 0")
    file = tmp_path / "rule.yaml"
    file.write_text(text, encoding="utf-8")
    (p,) = validate_files([file])
    assert p.severity == "warning" and str(p.message).startswith("Istio treats 0 as unset, not as zero: ")
    assert p.fix == "set the limit you mean (at least 1), or delete the field"
    zh = p.in_lang("zh")
    assert f"{POOL}.http.{field}: Istio 把 0 当作未设置" in zh, zh
    assert chinese in zh and "写上你想要的上限（至少为 1）" in zh, zh


def test_an_unsupported_kind_lists_the_supported_ones_in_chinese(tmp_path):
    file = tmp_path / "ds.yaml"
    file.write_text(
        "apiVersion: apps/v1\nkind: DaemonSets\nmetadata: {name: x}\nspec: {}\n", encoding="utf-8"
    )
    (p,) = validate_files([file])
    assert p.fix == (
        "supported: Pod and Service (v1), Deployment (apps/v1), VirtualService, DestinationRule and "
        "Sidecar (networking.istio.io/v1, v1beta1 or v1alpha3)"
    )
    zh = p.in_lang("zh")
    assert zh.startswith(f"{file}:2: DaemonSets/x: kind: 本实验不支持 kind 'DaemonSets'；"), zh
    assert (
        "Pod 和 Service（apiVersion 为 v1）、Deployment（apiVersion 为 apps/v1）、VirtualService、"
        "DestinationRule 和 Sidecar（apiVersion 为 networking.istio.io/v1、v1beta1 或 v1alpha3）"
    ) in zh


def test_a_too_long_list_says_why_in_chinese(tmp_path):
    subsets = "".join(f"  - name: v{i}\n" for i in range(40))
    file = tmp_path / "many.yaml"
    text = dr("connectionPool:\n  tcp:\n    maxConnections: 10") + "  subsets:\n" + subsets
    file.write_text(text, encoding="utf-8")
    (p,) = validate_files([file], cross_checks=False)
    assert p.path == "spec.subsets"
    assert str(p.message).startswith("40 items; the lab allows at most 32 here: ")
    zh = p.in_lang("zh")
    assert "有 40 个条目；本实验在这里最多允许 32 个：" in zh and "最多保留 32 个" in zh, zh
    assert not re.search(r"[a-z]{4,} [a-z]{4,} [a-z]{4,}", zh.split("spec.subsets: ", 1)[1]), zh  # no English


def test_the_parts_of_a_sentence_are_msgs_too():
    from lablib.manifests._fields import Int, describe, either

    assert describe("10") == "the string '10'" and render(describe("10"), "zh") == "字符串 '10'"
    assert describe(2**200) == "the number <a 51-hex-digit number>"
    assert render(describe(2**200), "zh") == "数字 <一个 51 位十六进制数>"
    assert Int.what == "an integer" and render(Int.what, "zh") == "整数"
    assert either(["a", "b", "c"]) == "a or b or c" and render(either(["a", "b", "c"]), "zh") == "a 或 b 或 c"
    assert render(either([["v1", "v1beta1"], "v1alpha3"]), "zh") == "v1、v1beta1 或 v1alpha3"


def test_a_broken_proxy_config_annotation_reads_in_chinese(tmp_path):
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: fortio\n  annotations:\n"
        "    proxy.istio.io/config: |\n      proxyStatsMatcher:\n        inclusionPrefixes: @cluster\n"
        "spec:\n  containers:\n  - name: fortio\n    image: fortio/fortio\n"
    )
    file = tmp_path / "pod.yaml"
    file.write_text(text, encoding="utf-8")
    (p,) = validate_files([file])
    assert p.path == 'metadata.annotations["proxy.istio.io/config"]'
    assert str(p.message).startswith("the proxy config is not YAML (line 2 of the value): ")
    zh = p.in_lang("zh")
    assert f"{file}:{line_of(text, 'proxy.istio.io/config')}: Pod/fortio: {p.path}: " in zh, zh
    assert "这个代理配置不是合法的 YAML（值的第 2 行）" in zh and "sidecar 注入器" in zh, zh
    assert "`proxy.istio.io/config: |`" in zh, zh
    assert "found character" in str(p) and "found character" not in zh, zh  # the parser's words, translated
