"""Lab 03 in a real browser, through the same JupyterLab fixture as lab 01 (``test_jupyterlab.py``): a small
copy of the Chinese edition (one edition per lab, alternating across labs) runs every cell above the cleanup
cell, its Chinese text is drawn as glyphs, the explorer's concurrency slider is moved with the mouse, Run adds
a point to the explorer's plot, the cleanup cell leaves no Envoy or service-go process. Screenshots go to
``test-artifacts/browser/`` (names start with ``lab03-``, ``lab03-zh-`` for Chinese)."""

from __future__ import annotations

import pytest

from tests.browser.test_jupyterlab import (  # noqa: F401  (jupyterlab: the fixture)
    ARTIFACTS,
    CELLS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CJK_GLYPHS,
    IDLE,
    LABS,
    POINTS,
    _explorer_points,
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

NOTEBOOK = LABS / "03-where-the-limit-lives.ipynb"
pytestmark = [pytest.mark.browser, pytest.mark.envoy]


# one edition per lab in the browser, alternating across labs (see test_jupyterlab.py): lab 03 in Chinese
@pytest.mark.parametrize("jupyterlab", [in_browser("03")], indirect=True)
def test_lab03_in_jupyterlab_slider_run_and_cleanup(jupyterlab):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    lab = jupyterlab
    prefix = "lab03-zh-" if lab["lang"] == "zh" else "lab03-"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page, cells, total = open_notebook(browser, lab)
            if lab["lang"] == "zh":
                assert page.evaluate(CJK_GLYPHS), "Chinese text is drawn as boxes: no CJK font in the browser"
            _shot(page, f"{prefix}01-opened")

            cells.nth(total - 1).locator(".jp-InputPrompt").click()
            _run_all_above(page)
            wait_until_ready(page, "document.querySelector('.lablib-explorer')", timeout=300_000)
            expect(page.locator(IDLE)).to_have_count(1, timeout=120_000)
            checks = page.locator(".lablib-check")
            assert checks.count() >= 5, f"expected the check cells to render, got {checks.count()}"
            failed = page.locator(".lablib-check[data-ok='false']")
            assert failed.count() == 0, failed.all_inner_texts()
            plots = page.locator(".js-plotly-plot")
            assert plots.count() >= 4  # routes, clients, workers, explorer
            for i, name in enumerate(("routes", "clients", "workers")):
                plots.nth(i).scroll_into_view_if_needed()
                plots.nth(i).screenshot(path=str(ARTIFACTS / f"{prefix}plot-{name}.png"))
            explorer = page.locator(".lablib-explorer")
            explorer.scroll_into_view_if_needed()
            _shot(page, f"{prefix}02-all-run-explorer")

            # The explorer's second slider is fortio -c per client: drag it with the mouse.
            slider = explorer.locator(".widget-slider").nth(1)
            moved = drag_slider(page, slider, 0.7)
            _shot(page, f"{prefix}03-slider-moved")

            points_before = _explorer_points(page)
            explorer.locator("button.lablib-run").click()
            # run_explorer = True: the check cell ran it once with the start values; this is the second Run
            expect(explorer.locator(".lablib-status[data-runs='2']")).to_have_count(1, timeout=120_000)
            page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length > n",
                                   arg=[POINTS, points_before], timeout=20_000)
            assert _explorer_points(page) == points_before + 1
            assert f"c={2 * moved}" in explorer.locator(".lablib-status").inner_text()  # two clients
            _shot(page, f"{prefix}04-after-run")

            run_cleanup_cell(page, cells.nth(total - 1), lab["marker"], f"{prefix}05-cleaned-up")
        except Exception:
            save_failure(page, prefix)
            raise
        finally:
            browser.close()
