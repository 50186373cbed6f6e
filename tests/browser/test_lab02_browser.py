"""Lab 02 in a real browser, through the same JupyterLab fixture as lab 01 (``test_jupyterlab.py``): a small
copy of the English edition (one edition per lab, alternating across labs) runs every cell above the cleanup
cell, the explorer's ``consecutive5xxErrors`` slider is moved with the mouse, Run redraws the timeline for the
new setting, the cleanup cell leaves no Envoy or service-go process. Screenshots go to
``test-artifacts/browser/`` (``lab02-``, ``lab02-zh-``)."""

from __future__ import annotations

import re

import pytest

from lablib.i18n import t
from tests.browser.test_jupyterlab import (  # noqa: F401  (jupyterlab: the fixture)
    ARTIFACTS,
    CELLS,
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,
    LABS,
    _run_all_above,
    _shot,
    drag_slider,
    in_browser,
    jupyterlab,
    open_notebook,
    run_cleanup_cell,
    save_failure,
    wait_until_ready,
)

NOTEBOOK = LABS / "02-outlier-detection.ipynb"
pytestmark = [pytest.mark.browser, pytest.mark.envoy]


@pytest.fixture
def headless_alongside(lab_run):
    """Lab 02's headless runs of both editions (``lab_run``, which its notebook tests read) start now and
    overlap with this test: all three mostly wait on ejection timers under a paced load. The test ends when
    they have, so the next test has the machine to itself again."""
    lab_run.start("02")
    yield
    lab_run.wait("02")


# one edition per lab in the browser, alternating across labs (see test_jupyterlab.py): lab 02 in English
@pytest.mark.parametrize("jupyterlab", [in_browser("02")], indirect=True)
def test_lab02_in_jupyterlab_slider_run_and_cleanup(headless_alongside, jupyterlab):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    lab = jupyterlab
    lang = str(lab["lang"])
    prefix = "lab02-zh-" if lang == "zh" else "lab02-"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page, cells, total = open_notebook(browser, lab)
            _shot(page, f"{prefix}01-opened")

            cells.nth(total - 1).locator(".jp-InputPrompt").click()
            _run_all_above(page)
            slider = page.locator(".widget-slider", has_text="consecutive5xxErrors")
            wait_until_ready(page, "[...document.querySelectorAll('.widget-slider')]"
                             ".some(e => /consecutive5xxErrors/.test(e.innerText))", timeout=300_000)
            expect(page.locator(IDLE)).to_have_count(1, timeout=180_000)
            failed = page.locator(".lablib-check[data-ok='false']")
            assert page.locator(".lablib-check").count() >= 10
            assert failed.count() == 0, failed.all_inner_texts()
            slider.scroll_into_view_if_needed()
            _shot(page, f"{prefix}02-all-run-explorer")

            moved = drag_slider(page, slider, 0.7)
            _shot(page, f"{prefix}03-slider-moved")

            output = page.locator(".widget-output").last
            before_text = output.inner_text()
            page.locator("button", has_text=t("outlier.explorer.run", lang)).last.click()
            # the explorer's output is redrawn for the new setting (cleared, then its checks): they name the
            # moved threshold, and pass
            page.wait_for_function(
                "b => { const o = [...document.querySelectorAll('.widget-output')].pop();"
                " return o.innerText !== b && o.querySelector('.lablib-check'); }", arg=before_text,
                timeout=120_000)
            expect(output).to_contain_text(re.compile(rf"(?<!\d){moved}(?!\d)"), timeout=30_000)
            # ... and above them the run's timeline is drawn (a plotly plot inside the explorer's box)
            explorer = page.locator(".jp-OutputArea-output", has=page.locator(".widget-slider")).last
            expect(explorer.locator(".js-plotly-plot")).to_have_count(1, timeout=30_000)
            expect(output.locator(".lablib-check[data-ok='false']")).to_have_count(0)
            _shot(page, f"{prefix}04-after-run")

            run_cleanup_cell(page, cells.nth(total - 1), lab["marker"], f"{prefix}05-cleaned-up")
        except Exception:
            save_failure(page, prefix)
            raise
        finally:
            browser.close()
