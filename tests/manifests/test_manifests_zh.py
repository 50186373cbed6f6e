"""The validator's own words in a Chinese notebook: reading a file, YAML syntax, the caps and the checks
across objects are ``Msg``s, so ``in_lang("zh")`` says them in Chinese (names, paths, numbers and Istio fields
kept) while ``str()`` stays the English the CLI and the other tests read."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from lablib import ValidationFailed, YAMLSyntaxError
from lablib.i18n import render
from lablib.manifests import LabWarning, load_file, validate_files
from lablib.manifests._limits import MAX_FILE_BYTES
from tests.support import CJK

REPO = Path(__file__).resolve().parents[2]
SEED_DR = REPO / "manifests" / "istio" / "resilience" / "destination-rule-go-cb.yaml"

FULL_WIDTH_KIND = """\
apiVersion: networking.istio.io/v1
kind\uff1a DestinationRule
metadata:
  name: service-go
spec:
  host: service-go
"""

ROUTE_TO_SUBSETS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: service-go
spec:
  hosts:
  - service-go
  http:
  - route:
    - destination:
        host: service-go
        subset: v1
"""

RULE_WITHOUT_POOL = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: service-go
spec:
  host: service-go
"""


def chinese(text: str) -> bool:
    return bool(CJK.search(text))


def test_a_full_width_colon_is_reported_in_chinese_and_str_stays_english(write):
    path = write("dr.yaml", FULL_WIDTH_KIND)
    problems = validate_files([path])
    colon = next(p for p in problems if p.column is not None and "U+FF1A" in p.message)
    assert str(colon) == (
        f"{path}:2: line 2 uses a full-width colon '\uff1a' (U+FF1A); YAML needs the ASCII ':'; "
        "replace '\uff1a' with ': ' (an ASCII colon and a space)"
    )
    zh = colon.in_lang("zh")
    assert zh.startswith(f"{path}:2: ") and "全角冒号" in zh and "U+FF1A" in zh and "ASCII" in zh, zh
    assert "line 2 uses" not in zh and "replace" not in zh, zh
    # The parser's own error after it: its position and our fix in Chinese, its words said in Chinese too.
    syntax = next(p for p in problems if p.message.startswith("invalid YAML"))
    assert str(syntax.message).endswith(f"at line {syntax.line}, column {syntax.column}")
    zh = syntax.in_lang("zh")
    assert f"第 {syntax.line} 行第 {syntax.column} 列" in zh and "先修正第 2 行报告的全角标点" in zh, zh
    assert "invalid YAML" not in zh, zh
    error = syntax.as_error()
    assert isinstance(error, YAMLSyntaxError) and chinese(error.in_lang("zh")) and str(error).startswith(
        f"{path}:{syntax.line}:{syntax.column}: invalid YAML: ")


def test_validation_failed_renders_its_header_and_every_problem_in_chinese(write):
    path = write("dr.yaml", FULL_WIDTH_KIND)
    with pytest.raises(ValidationFailed) as failed:
        load_file(path)
    err = failed.value
    errors = [p for p in err.problems if p.is_error]
    english = str(err)
    assert english.splitlines()[0] == f"{len(errors)} error(s); nothing was applied:"
    assert english.splitlines()[1:] == [str(p) for p in errors]
    zh = err.in_lang("zh").splitlines()
    assert zh[0] == f"{len(errors)} 个错误；没有应用任何内容："
    assert zh[1:] == [p.in_lang("zh") for p in errors]
    assert all(line.startswith(f"{path}:") and chinese(line) for line in zh[1:]), zh
    assert str(err) == english  # rendering Chinese changed nothing


def test_a_file_past_the_size_cap_says_so_in_chinese(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    (problem,) = validate_files([path])
    assert problem.message.startswith("the file is larger than 1024 KiB, the most the lab reads")
    zh = problem.in_lang("zh")
    assert "文件超过 1024 KiB" in zh and "1.5 MiB" in zh and "拆成几个较小的文件" in zh, zh


def test_a_missing_file_and_a_non_utf8_file_in_chinese(tmp_path):
    missing = tmp_path / "nope.yaml"
    (problem,) = validate_files([missing])
    assert str(problem) == (f"{missing}:0: cannot read the file: No such file or directory; check the path "
                            "(relative paths start from the current directory)")
    zh = problem.in_lang("zh")
    assert "无法读取文件" in zh and "文件或目录不存在" in zh and "检查路径" in zh, zh
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("metadata: {name: caf\u00e9}\n".encode("latin-1"))
    (problem,) = validate_files([latin1])
    assert problem.message.startswith("the file is not UTF-8 text (")
    assert "不是 UTF-8 文本" in problem.in_lang("zh") and "以 UTF-8 编码保存" in problem.in_lang("zh")


def test_a_route_to_a_subset_nobody_defines_in_chinese(write):
    path = write("vs.yaml", ROUTE_TO_SUBSETS)
    (problem,) = validate_files([path])
    assert problem.message == (
        "subset 'v1' is not defined: no DestinationRule for host service-go defines it; Envoy has no cluster "
        "for it and these requests fail with 503 (istioctl analyze: IST0101 ReferencedResourceNotFound)"
    )
    zh = problem.in_lang("zh")
    assert zh.startswith(f"{path}:12: VirtualService/service-go: spec.http[0].route[0].destination.subset: ")
    for kept in ("'v1'", "service-go", "503", "IST0101", "destination-rule-go-cb.yaml", "`subset`"):
        assert kept in zh, (kept, zh)
    assert "子集 'v1' 未定义" in zh and "DestinationRule" in zh and "is not defined" not in zh, zh
    with pytest.raises(ValidationFailed) as failed:
        load_file(path)
    assert "子集 'v1' 未定义" in failed.value.in_lang("zh")
    assert "subset 'v1' is not defined" in str(failed.value)


def test_the_seed_rule_warns_about_consecutive_errors_in_chinese(tmp_path):
    seed = Path(shutil.copy(SEED_DR, tmp_path / "destination-rule-go-cb.yaml"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        load_file(seed)
    (warning,) = [w.message for w in record if issubclass(w.category, LabWarning)]
    assert str(warning).startswith(
        "DestinationRule/service-go: spec.trafficPolicy.outlierDetection.consecutiveErrors: "
        "consecutiveErrors is deprecated and IGNORED")
    zh = warning.in_lang("zh")
    assert chinese(zh.split("consecutiveErrors: ", 1)[1]), zh  # the sentence, not only the field path
    assert "consecutiveErrors" in zh and "consecutive5xxErrors" in zh, zh
    assert render(warning, "zh") == zh


def test_a_rule_that_drops_the_applied_breaker_warns_in_chinese(write):
    with warnings.catch_warnings(record=True):  # the seed's own consecutiveErrors warning: not this test's
        warnings.simplefilter("always")
        applied = [m.body for m in load_file(SEED_DR)]  # the lab's state: plain dicts, no file or line
    path = write("no-pool.yaml", RULE_WITHOUT_POOL)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        load_file(path, context=applied)
    (warning,) = [w.message for w in record if issubclass(w.category, LabWarning)]
    assert str(warning) == (
        "DestinationRule/service-go: spec: this replaces DestinationRule/service-go applied before (already "
        "applied), which has a connectionPool; this one has none, so the circuit breaker goes away; copy the "
        "trafficPolicy.connectionPool into this rule if you still want the breaker"
    )
    zh = warning.in_lang("zh")
    assert "（已应用）" in zh and "熔断器" in zh and "connectionPool" in zh and "trafficPolicy" in zh, zh


def test_too_many_pods_gives_the_embedded_labs_reason_in_chinese(write, workloads):
    deployment = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: many
spec:
  replicas: 10
  selector: {matchLabels: {app: many}}
  template:
    metadata: {labels: {app: many}}
    spec:
      containers:
      - name: app
        image: many
"""
    paths = [write("a.yaml", deployment), write("b.yaml", deployment.replace("name: many", "name: more"))]
    (problem,) = [p for p in validate_files(paths, context=workloads) if p.is_error]
    assert problem.message.endswith(
        "more than the 20 it allows: the embedded lab runs every pod as two real processes on this machine "
        "(the app and its Envoy sidecar)")
    zh = problem.in_lang("zh")
    assert "超过了允许的 20 个" in zh and "两个真实进程" in zh, zh
    assert "sidecar" in zh and "spec.replicas" in zh and problem.fix in str(problem), zh
