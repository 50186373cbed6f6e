"""Lab 05's explorer without Envoy (``FakeBackend``: the contract, translation and fault knobs, no retries
modelled): Run writes the route and the rule the controls say, sets every service-go pod's fault, and adds
one point per run to both plots on its setting's trace; an error shows in the status line in the explorer's
language. The real-Envoy runs are the notebook's (tests/retries/test_notebook.py) and the browser test's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lablib._exceptions import BackendError
from lablib.backends.fake import FakeBackend
from lablib.i18n import Msg
from lablib.lab import Lab
from lablib.lab_defaults import MANIFESTS
from lablib.labs.retries_meet_breakers import mesh
from lablib.labs.retries_meet_breakers.plots import EXPLORER_AMPLIFICATION, EXPLORER_SHARE
from lablib.labs.retries_meet_breakers.widgets import RetryExplorer
from lablib.translate import defaults
from tests.support import CJK


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(backend=FakeBackend()) as the_lab:
        the_lab.apply(mesh.v1_only(tmp_path))
        the_lab.apply(MANIFESTS / "kubernetes/fortio.yaml")
        yield the_lab


def test_run_applies_the_controls_and_adds_a_point_to_both_plots(lab: Lab, tmp_path: Path) -> None:
    explorer = RetryExplorer(lab, directory=tmp_path, attempts=2, fraction=0.5, concurrency=4,
                             calls_per_thread=10)
    explorer.max_retries.value, explorer.budget.value, explorer.per_try.value = 3, 25, "50ms"
    run = explorer.run()
    route = yaml.safe_load((tmp_path / mesh.ROUTE_FILE).read_text())
    assert route["spec"]["http"][0]["retries"] == {"attempts": 2, "retryOn": "5xx", "perTryTimeout": "50ms"}
    rule = yaml.safe_load((tmp_path / mesh.RULE_FILE).read_text())["spec"]["trafficPolicy"]
    assert rule["connectionPool"]["http"]["maxRetries"] == 3 and rule["retryBudget"] == {"percent": 25}
    assert run.calls == 40 and 0.3 < run.failure_fraction < 0.7  # every pod's fault, drawn at random
    explorer.attempts.value = 5
    explorer.run()
    for kind in (EXPLORER_AMPLIFICATION, EXPLORER_SHARE):
        (trace,) = [tr for tr in explorer.figures[kind].data if tr.name == explorer.label()]
        assert list(trace.x) == [2, 5]  # the same setting's trace, one point per run, at its attempts
    assert "data-runs='2'" in explorer.status.value


def test_istios_default_retry_on_is_a_choice_and_theory_then_expects_no_amplification(lab: Lab, tmp_path: Path
                                                                                      ) -> None:
    explorer = RetryExplorer(lab, directory=tmp_path, retry_on=defaults.ISTIO_DEFAULT_RETRY_ON)
    run = explorer.run()
    assert explorer.theory(run) == 1.0
    explorer.retry_on.value = "retriable-status-codes,503"
    assert explorer.theory(run) == pytest.approx(1 + run.failure_fraction + run.failure_fraction**2)


def test_an_error_shows_in_the_status_line_in_the_explorers_language(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explorer = RetryExplorer(lab, directory=tmp_path, lang="zh")

    def broken(*args: object, **kwargs: object) -> None:
        raise BackendError(Msg("mesh.app.no_answer", pod="service-go-v1-0", error="boom"))

    monkeypatch.setattr(lab, "fortio", broken)
    explorer._on_run()  # what the button does
    assert "lablib-error" in explorer.status.value and CJK.search(explorer.status.value)
    assert not explorer.run_button.disabled and explorer.runs == []
