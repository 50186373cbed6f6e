"""Lab 06 in a real browser, through the same JupyterLab fixture as lab 01 (``test_jupyterlab.py``): a small
copy of the English edition runs every cell above the cleanup cell, every check renders and passes, the
explorer's threads slider is moved with the mouse, Run adds a row to the explorer's table, and the cleanup
cell leaves no Envoy or service-go process. Screenshots go to ``test-artifacts/browser/`` (names start with
``lab06-``)."""

from __future__ import annotations

import pytest

from tests.browser.test_jupyterlab import (  # noqa: F401  (jupyterlab: the fixture)
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,
    LABS,
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

NOTEBOOK = LABS / "06-the-server-protects-itself.ipynb"
pytestmark = [pytest.mark.browser, pytest.mark.envoy]
ROWS = ".lablib-explorer table.lablib-runs tr"


@pytest.mark.parametrize("jupyterlab", [("en", NOTEBOOK, small("06"))], indirect=True, ids=["en"])
def test_lab06_in_jupyterlab_slider_run_and_cleanup(jupyterlab):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    lab = jupyterlab
    prefix = "lab06-"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page, cells, total = open_notebook(browser, lab)
            _shot(page, f"{prefix}01-opened")
            cells.nth(total - 1).locator(".jp-InputPrompt").click()
            _run_all_above(page)
            wait_until_ready(page, "document.querySelector('.lablib-explorer')", timeout=300_000)
            expect(page.locator(IDLE)).to_have_count(1, timeout=120_000)
            checks = page.locator(".lablib-check")
            assert checks.count() >= 4, f"expected the check cells to render, got {checks.count()}"
            failed = page.locator(".lablib-check[data-ok='false']")
            assert failed.count() == 0, failed.all_inner_texts()
            explorer = page.locator(".lablib-explorer")
            explorer.scroll_into_view_if_needed()
            _shot(page, f"{prefix}02-all-run-explorer")

            # The explorer's second slider is fortio -c per client: drag it with the mouse.
            drag_slider(page, explorer.locator(".widget-slider").nth(1), 0.6)
            rows_before = page.locator(ROWS).count()  # the header + the check cell's run
            explorer.locator("button.lablib-run").click()
            expect(explorer.locator(".lablib-status[data-runs='2']")).to_have_count(1, timeout=120_000)
            expect(page.locator(ROWS)).to_have_count(rows_before + 1, timeout=20_000)
            _shot(page, f"{prefix}03-after-run")

            run_cleanup_cell(page, cells.nth(total - 1), lab["marker"], f"{prefix}04-cleaned-up")
        except Exception:
            save_failure(page, prefix)
            raise
        finally:
            browser.close()
