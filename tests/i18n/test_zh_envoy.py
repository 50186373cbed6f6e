"""The Chinese edition against real Envoy: the zh explorer applies, runs and plots like the English one, and
the explanations of a real run carry the same numbers in both languages."""

from __future__ import annotations

import re

import pytest

from lablib.labs.circuit_breaking import BreakerExplorer, BreakerKnobs, explain, knob_theory
from lablib.notebook import checks
from tests.notebooks.conftest import lab_env  # noqa: F401  (fixture)
from tests.notebooks.test_explorer_envoy import BASE, CLUSTER, PENDING_DR, lab  # noqa: F401  (fixture)
from tests.support import CJK


@pytest.mark.envoy
def test_chinese_explorer_runs_a_real_breaker_and_explains_it_with_the_same_numbers(lab):  # noqa: F811
    pending = BreakerKnobs(http1_max_pending_requests=10)
    ex = BreakerExplorer(lab, theory_for=knob_theory([*BASE, PENDING_DR], sim_repeats=0), knobs=pending,
                         cluster=CLUSTER, applied=pending, lang="zh")
    ex.concurrency.value = 40
    point = ex.run()
    assert point.share_503 > 0.2 and point.overflows["upstream_rq_pending_overflow"] > 0
    assert "已压测 1 次" in ex.status.value
    trace = next(t for t in ex.figure.data if t.name.startswith("本次实验：探索器"))
    assert trace.x == (40,)

    zh = checks.every_503_explained([point], slack=2, lang="zh")
    en = checks.every_503_explained([point], slack=2)
    assert zh.ok and en.ok and str(zh).startswith("通过：")
    for fn in (explain.why_sockets, explain.why_varies):
        en_text, zh_text = str(fn([point])), str(fn([point], lang="zh"))
        assert sorted(re.findall(r"\d+(?:\.\d+)?", en_text)) == sorted(re.findall(r"\d+(?:\.\d+)?", zh_text))
        assert CJK.search(zh_text)
