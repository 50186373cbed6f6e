"""Lab 02's rule module in Chinese: the "why" of each Envoy field (lab 02's mapping table) and the header of
the rule file the notebook prints; the English stays exactly as it was."""

from __future__ import annotations

import pytest

from lablib.labs.outlier_detection.rule import LAB, SEED, effective_envoy, write_rule

from .test_catalogue import CJK
from .test_zh import PHRASE

GATEWAY = LAB.replace(consecutive_5xx_errors=0, consecutive_gateway_errors=3)
SETTINGS = [SEED, LAB, GATEWAY, LAB.replace(consecutive_5xx_errors=None, min_health_percent=20)]


def test_english_rows_are_unchanged():
    rows = {r[0]: r for r in effective_envoy(SEED)}
    why = "consecutiveErrors is ignored by Istio >= 1.7; Envoy's default applies"
    assert rows["consecutive_5xx"] == ("consecutive_5xx", "5", "consecutiveErrors: ignored", why)
    assert rows["enforcing_success_rate"] == ("enforcing_success_rate", "0", "(block present)",
                                              "Istio turns success-rate ejection off")
    assert rows["common_lb_config.healthy_panic_threshold"][3] == (
        "0 = no panic routing: all hosts out -> 503 no healthy upstream (UH)")
    assert effective_envoy(LAB) == effective_envoy(LAB, lang="en")


@pytest.mark.parametrize("settings", SETTINGS, ids=["seed", "lab", "gateway", "unset"])
def test_chinese_rows_have_the_same_fields_and_values_and_a_chinese_why(settings):
    en, zh = effective_envoy(settings), effective_envoy(settings, lang="zh")
    assert [(f, v) for f, v, _, _ in en] == [(f, v) for f, v, _, _ in zh]
    for (_, _, en_src, _), (field, _, zh_src, zh_why) in zip(en, zh, strict=True):
        assert CJK.search(zh_why) and not PHRASE.search(zh_why), (field, zh_why)
        if not CJK.search(zh_src):  # an Istio field name, or '-': the same in every language
            assert zh_src == en_src
        else:
            assert not PHRASE.search(zh_src), zh_src


def test_the_rule_file_header_is_in_the_notebooks_language(tmp_path):
    english = write_rule(tmp_path / "en.yaml", LAB, comment="Lab 02").read_text(encoding="utf-8")
    assert english.startswith(
        "# Lab 02\n# Written by lablib.labs.outlier_detection.write_rule from the lab's parameters.\n")
    chinese = write_rule(tmp_path / "zh.yaml", LAB, comment="实验 02", lang="zh").read_text(encoding="utf-8")
    header = [line for line in chinese.splitlines() if line.startswith("#")]
    assert header[0] == "# 实验 02" and CJK.search(header[1]) and not PHRASE.search(header[1])
    assert english.split("\n", 2)[2] == chinese.split("\n", 2)[2]  # the same rule below the header
