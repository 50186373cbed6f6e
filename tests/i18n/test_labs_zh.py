"""The labs' own errors and warnings in Chinese: presets, lab 03's mesh, the proxy-config annotation, the kind
backend's istiod version warning, lab 02's parameters, the runs a parameters cell asks for, and what the
explorers show when Run fails. ``str(error)`` stays the English text the CLI, logs and older tests read."""

from __future__ import annotations

import pytest

from lablib import LabError
from lablib.i18n import Msg, render
from lablib.labs.outlier_detection.observer import LoadRunner
from lablib.labs.outlier_detection.rule import LAB, ParameterError, seconds
from lablib.labs.reproducing_published_runs.presets import preset
from lablib.labs.reproducing_published_runs.reproduce import measured, replay
from lablib.labs.where_the_limit_lives import mesh
from lablib.notebook.runs import sweep
from lablib.translate.proxy_config import PROXY_CONFIG_ANNOTATION, proxy_concurrency
from lablib.translate.version import ISTIO_VERSION, istiod_version_warning
from tests.support import CJK

BAD_BASE_RULE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "DestinationRule",
    "metadata": {"name": "service-go"},
    "spec": {"host": "service-go", "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": -3}}},
}


def _zh(error: BaseException) -> str:
    text = error.in_lang("zh")  # type: ignore[attr-defined]
    assert CJK.search(text), text
    return text


def test_a_bad_preset_name_is_said_in_chinese_with_the_known_names():
    with pytest.raises(LabError) as info:
        preset("istio")
    assert str(info.value) == "no environment preset 'istio'; use one of istio-task, book"
    zh = _zh(info.value)
    assert "'istio'" in zh and "istio-task、book" in zh and "use one of" not in zh


def test_preset_errors_keep_their_numbers_in_chinese():
    book = preset("book")
    with pytest.raises(LabError, match=r"^fortio -c must be >= 1, got 0$") as info:
        book.fortio_args(0)
    assert "0" in _zh(info.value)
    with pytest.raises(LabError) as info:
        book.published_file(25)
    assert str(info.value) == "book: no published output for -c 25 (published: 20, 30, 40)"
    assert "20、30、40" in _zh(info.value)
    with pytest.raises(LabError) as info:
        preset("istio-task").with_(published_files={}).published_file(3)
    assert str(info.value).endswith("(published: none)") and "（已发布的有：无）" in _zh(info.value)
    with pytest.raises(LabError) as info:
        book.with_(cpus=2)
    assert str(info.value).startswith("unknown environment factor(s): cpus; use name, rule, ")
    assert "cpus" in _zh(info.value) and "未知的环境因素" in _zh(info.value)


def test_a_preset_describes_itself_in_the_notebooks_language():
    book = preset("book")
    assert book.describe() == "book: 25 ms service, 1 worker(s), mTLS off, reuse_port on, 1 CPU client"
    assert book.describe("zh") == ("book：服务耗时 25 ms，1 个工作线程，mTLS 关闭，reuse_port 开启，"
                                   "客户端限定 1 个 CPU")


def test_a_bad_proxy_config_annotation_is_said_in_chinese():
    with pytest.raises(LabError) as info:
        proxy_concurrency({PROXY_CONFIG_ANNOTATION: "concurrency: -1"})
    assert str(info.value) == ("annotation proxy.istio.io/config: concurrency must be a whole number >= 0 "
                               "(0: all cores), got -1")
    zh = _zh(info.value)
    assert PROXY_CONFIG_ANNOTATION in zh and "-1" in zh and "并发" in zh

    with pytest.raises(LabError) as info:
        proxy_concurrency({PROXY_CONFIG_ANNOTATION: "concurrency: [1"})
    assert str(info.value).startswith("annotation proxy.istio.io/config is not a ProxyConfig in YAML: ")
    zh = _zh(info.value)
    assert "不是 YAML 格式的 ProxyConfig" in zh and "'concurrency: 1'" in zh


def test_the_istiod_version_warning_renders_in_chinese_and_stays_english_as_text():
    warning = istiod_version_warning("1.29.2")
    assert isinstance(warning, Msg)
    english = str(warning)
    assert english.startswith(f"istiod is 1.29.2 but the lab translates as Istio {ISTIO_VERSION}: "
                              "this cluster's sidecars lack these changes:\n  - Istio 1.30: "
                              "trafficPolicy.retryBudget without percent: budget_percent 20.0 (20%)")
    assert english.endswith(f"\nInstall Istio {ISTIO_VERSION} to run the configuration the lab shows.")
    zh = render(warning, "zh")
    lines = zh.splitlines()
    assert len(lines) == len(english.splitlines()) == 3
    assert lines[0] == (f"istiod 的版本是 1.29.2，但本实验按 Istio {ISTIO_VERSION} 翻译配置："
                        "本集群的 sidecar 缺少以下变化：")
    assert lines[1].startswith("  - Istio 1.30：未设置 percent 的 trafficPolicy.retryBudget：")
    assert "before" not in zh and "Install" not in zh and CJK.search(lines[2])
    for reported in ("1.0.3", "1.31.0", None):
        other = istiod_version_warning(reported)
        assert other is not None and CJK.search(render(other, "zh")) and not CJK.search(str(other))
    assert istiod_version_warning("1.30.1") is None


def test_lab_03_and_lab_04_errors_are_said_in_chinese(tmp_path):
    with pytest.raises(LabError) as info:
        mesh.route_file("v1-only")
    assert str(info.value) == "unknown route 'v1-only'; use one of none, 50-50, 90-10"
    assert "路由" in _zh(info.value) and "none、50-50、90-10" in _zh(info.value)
    with pytest.raises(LabError) as info:
        mesh.client_names(0)
    assert str(info.value) == "at least one client pod is needed, got 0" and "客户端 pod" in _zh(info.value)
    with pytest.raises(LabError) as info:
        mesh.worker_client(object(), 0, directory=tmp_path)
    assert "工作线程" in _zh(info.value) and not list(tmp_path.iterdir())
    with pytest.raises(LabError) as info:
        replay(object(), preset("book"), [20], runs=0)
    assert str(info.value) == "runs must be >= 1, got 0" and "0" in _zh(info.value)
    missing = tmp_path / "measured.yaml"
    with pytest.raises(LabError) as info:
        measured(missing)
    assert str(info.value).startswith(f"{missing}: cannot read the measured numbers (")
    assert str(missing) in _zh(info.value) and "python -m bench.bench_fidelity --record" in _zh(info.value)


def test_lab_02_parameters_are_lab_errors_in_chinese_and_still_value_errors():
    with pytest.raises(ParameterError) as info:
        LAB.replace(base_ejection_time="15 s")
    assert isinstance(info.value, ValueError) and isinstance(info.value, LabError)
    assert str(info.value) == "'15 s' is not a duration like '1s', '15s', '3m' or '500ms'"
    assert "'15 s'" in _zh(info.value) and "'500ms'" in _zh(info.value)
    with pytest.raises(ParameterError, match="0-100") as info:
        LAB.replace(max_ejection_percent=150)
    assert "150" in _zh(info.value)
    with pytest.raises(ParameterError) as info:
        LAB.replace(consecutive_5xx_errors=-1)
    assert "consecutive_5xx_errors" in _zh(info.value)
    with pytest.raises(ParameterError) as info:
        LoadRunner(object(), object(), qps=0)
    assert str(info.value) == "qps must be > 0 (paced load), got 0" and "qps" in _zh(info.value)
    assert seconds("3m") == 180.0


@pytest.mark.parametrize(("concurrencies", "repeats", "english"), [
    ([], 1, "no fortio -c value to run"),
    ([10, 0, -5], 1, "fortio -c must be >= 1, got 0, -5"),
    ([10], 0, "repeats must be >= 1, got 0"),
])
def test_a_parameters_cell_that_asks_for_no_run_is_told_before_anything_runs(concurrencies, repeats, english):
    with pytest.raises(LabError) as info:
        sweep(object(), "seed", concurrencies, repeats=repeats)  # object(): nothing reaches a lab
    assert str(info.value).startswith(english)
    _zh(info.value)


def test_the_breaker_explorer_shows_a_failed_run_in_chinese_without_a_traceback():
    from lablib.labs.circuit_breaking.explorer import BreakerExplorer

    ex = BreakerExplorer(object(), base_rule=BAD_BASE_RULE, lang="zh")
    ex.run_button.click()  # the rule made from the sliders fails validation: nothing reaches the lab
    status = ex.status.value
    assert "ValidationFailed（错误）：1 个错误；没有应用任何内容：" in status
    assert "consecutive5xxErrors" in status and "<br>" in status
    assert "nothing was applied" not in status and "Traceback" not in status
    assert not ex.run_button.disabled

    en = BreakerExplorer(object(), base_rule=BAD_BASE_RULE)
    en.run_button.click()
    assert "ValidationFailed: 1 error(s); nothing was applied:" in en.status.value

    ex._progress(1, 2, Msg("presets.fortio_c", c=0))  # a progress message made deep in lablib, as a Msg
    assert "fortio 的 -c 必须 >= 1，实际为 0" in ex.status.value


def test_the_limits_and_outlier_explorers_show_a_failed_run_without_a_traceback(tmp_path):
    from lablib.labs.outlier_detection.widgets import Explorer
    from lablib.labs.where_the_limit_lives.widgets import LimitsExplorer

    limits = LimitsExplorer(object(), directory=tmp_path, lang="zh")  # object(): a lab that cannot apply
    limits.run_button.click()
    assert "AttributeError（错误）：" in limits.status.value and "Traceback" not in limits.status.value
    assert not limits.run_button.disabled

    outlier = Explorer(object(), rule_path=tmp_path / "dr.yaml", lang="zh")
    outlier.button.click()  # before: the exception escaped the callback, to the browser's log only
    (shown,) = outlier.output.outputs
    html = shown["data"]["text/html"]
    assert "AttributeError（错误）：" in html and "Traceback" not in html
    assert not outlier.button.disabled
