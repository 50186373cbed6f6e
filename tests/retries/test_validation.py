"""Bad retry input gets a positioned error in the notebook's language, from ``validate`` and from ``apply``,
and nothing is applied (issue 21): ``attempts: -1``, ``perTryTimeout: 0s``, a budget percent above 100, an
unknown ``retryOn`` condition; and the two mistakes Istio's ``validateHTTPRetry`` also refuses, a retry field
with retries off and a space after a comma in ``retryOn``. The CLI side of each case is the bad-input corpus
(tests/badinput/cases/vs-retryon-*.yaml, vs-pertrytimeout-0s.yaml, vs-attempts-negative.yaml,
dr-retrybudget-percent-150.yaml)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lablib import ValidationFailed
from lablib.backends.fake import FakeBackend
from lablib.lab import Lab
from lablib.lab_defaults import MANIFESTS
from lablib.manifests import validate_files
from tests.support import CJK

VS = """\
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
    retries:
{retries}
"""
DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: service-go
spec:
  host: service-go
  trafficPolicy:
    retryBudget:
{budget}
"""

# (case, template, block, the line's marker, English fragment, Chinese fragment)
CASES = [
    ("attempts -1", VS, "attempts: -1", "attempts", "is negative", "是负数"),
    ("perTryTimeout 0s", VS, "attempts: 3\nperTryTimeout: 0s", "perTryTimeout", "shorter than 1ms", "1ms"),
    ("budget percent 150", DR, "percent: 150", "percent", "150 is above 100", "150"),
    ("unknown retryOn condition", VS, "attempts: 3\nretryOn: 5xx,retry-on-503", "retryOn",
     "'retry-on-503' is not a retry condition", "不是 Istio 在 `retryOn` 中接受的重试条件"),
    ("a space after a comma", VS, "attempts: 3\nretryOn: 5xx, gateway-error", "retryOn", "has a space",
     "含有空格"),
    ("retryOn with retries off", VS, "attempts: 0\nretryOn: 5xx", "attempts", "retries are off",
     "重试已关闭"),
]


def write(tmp_path: Path, template: str, block: str) -> tuple[Path, str]:
    key = "retries" if "retries:" in template else "budget"
    text = template.format(**{key: textwrap.indent(block, "      ")})
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path, text


def line_of(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith(marker + ":"))


@pytest.mark.parametrize(("template", "block", "marker", "english", "chinese"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_validate_says_where_and_what_in_both_languages(tmp_path: Path, template: str, block: str,
                                                        marker: str, english: str, chinese: str) -> None:
    path, text = write(tmp_path, template, block)
    errors = [p for p in validate_files([path]) if p.is_error]
    line = line_of(text, marker)
    (problem,) = [p for p in errors if p.line == line and english in p.text]
    assert str(problem).startswith(f"{path}:{line}: ") and problem.fix
    zh = problem.in_lang("zh")
    assert zh.startswith(f"{path}:{line}: ") and chinese in zh and CJK.search(zh), zh


@pytest.mark.parametrize(("template", "block", "marker", "english", "chinese"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_apply_refuses_it_and_applies_nothing(tmp_path: Path, template: str, block: str, marker: str,
                                              english: str, chinese: str) -> None:
    with Lab(backend=FakeBackend()) as lab:
        lab.apply(MANIFESTS / "service/go/service-go.yaml")
        lab.apply(MANIFESTS / "kubernetes/fortio.yaml")
        before = lab.proxy_config("route"), lab.proxy_config("cluster")
        path, text = write(tmp_path, template, block)
        with pytest.raises(ValidationFailed) as refused:
            lab.apply(path)
        line = line_of(text, marker)
        assert f"{path}:{line}: " in str(refused.value) and english in str(refused.value)
        zh = refused.value.in_lang("zh")
        assert f"{path}:{line}: " in zh and chinese in zh
        assert (lab.proxy_config("route"), lab.proxy_config("cluster")) == before  # nothing applied
