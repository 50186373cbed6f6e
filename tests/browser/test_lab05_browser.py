"""Lab 05 in a real browser, through the same JupyterLab fixture as lab 01 (``test_jupyterlab.py``): a small
copy of the English edition (one edition per lab, alternating across labs) runs every cell above the cleanup
cell, every check passes, the explorer's ``attempts`` slider is moved with the mouse, Run adds a point to both
of the explorer's plots (amplification and 503 share) and the status line reports it, the cleanup cell leaves
no Envoy or service-go process. Screenshots go to ``test-artifacts/browser/`` (names start with
``lab05-``)."""

from __future__ import annotations

import pytest

from tests.browser.test_jupyterlab import (  # noqa: F401  (jupyterlab: the fixture)
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,
    LABS,
    POINTS,
    _explorer_points,
    _run_all_above,
    _shot,
    drag_slider,
    jupyterlab,
    open_notebook,
    run_cleanup_cell,
    save_failure,
    small,
    wait_until_ready,
)

NOTEBOOK = LABS / "05-retries-meet-breakers.ipynb"
pytestmark = [pytest.mark.browser, pytest.mark.envoy]


# one edition per lab in the browser, alternating across labs (see test_jupyterlab.py): lab 05 in English
@pytest.mark.parametrize("jupyterlab", [("en", NOTEBOOK, small("05"))], indirect=True, ids=["en"])
def test_lab05_in_jupyterlab_slider_run_and_cleanup(jupyterlab):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    lab = jupyterlab
    prefix = "lab05-"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page, cells, total = open_notebook(browser, lab)
            _shot(page, f"{prefix}01-opened")

            cells.nth(total - 1).locator(".jp-InputPrompt").click()
            _run_all_above(page)
            wait_until_ready(page, "document.querySelector('.lablib-explorer')", timeout=400_000)
            expect(page.locator(IDLE)).to_have_count(1, timeout=180_000)
            checks = page.locator(".lablib-check")
            assert checks.count() >= 8, f"expected the check cells to render, got {checks.count()}"
            failed = page.locator(".lablib-check[data-ok='false']")
            assert failed.count() == 0, failed.all_inner_texts()
            plots = page.locator(".js-plotly-plot")
            assert plots.count() >= 7  # amplification, share, latency, two limiters, the explorer's two
            for i, name in enumerate(("amplification", "share", "latency")):
                plots.nth(i).scroll_into_view_if_needed()
                plots.nth(i).screenshot(path=str(ARTIFACTS / f"{prefix}plot-{name}.png"))
            explorer = page.locator(".lablib-explorer")
            explorer.scroll_into_view_if_needed()
            _shot(page, f"{prefix}02-all-run-explorer")

            # The explorer's first slider is attempts (retries per call): drag it with the mouse.
            slider = explorer.locator(".widget-slider").nth(0)
            moved = drag_slider(page, slider, 0.7)
            assert 1 <= moved <= 5, moved
            _shot(page, f"{prefix}03-slider-moved")

            points_before = _explorer_points(page)
            explorer.locator("button.lablib-run").click()
            # run_explorer = True: the check cell ran it once with the start values; this is the second Run
            expect(explorer.locator(".lablib-status[data-runs='2']")).to_have_count(1, timeout=120_000)
            page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length >= n + 2",
                                   arg=[POINTS, points_before], timeout=20_000)
            assert _explorer_points(page) == points_before + 2  # one on each plot
            status = explorer.locator(".lablib-status").inner_text()
            assert "amplification" in status and "theory" in status, status
            _shot(page, f"{prefix}04-after-run")

            run_cleanup_cell(page, cells.nth(total - 1), lab["marker"], f"{prefix}05-cleaned-up")
        except Exception:
            save_failure(page, prefix)
            raise
        finally:
            browser.close()
