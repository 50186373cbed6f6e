"""The lab in a real browser: JupyterLab started with ``make lab`` (as the README says), driven by headless
Debian chromium through Playwright.

The test opens a copy of lab 01 with CI's small parameters (``LABS``; the committed notebook is never
touched: JupyterLab autosaves outputs) but no prediction or exercise answer among them, as a student has it.
It runs the cells up to the predictions, types one and locks it in (it freezes), runs on to the exercise,
moves the explorer's concurrency slider, presses Run, sees the plot gain a point; then in the exercise's box
it submits a typical wrong rule (the hint meant for it shows), a rule that is not YAML (the validator's
FILE:LINE error shows, and the client Envoy, asked on its admin socket, still runs the wrong rule) and the
reference rule (it passes); the summary shows the prediction and the passed exercise; the cleanup cell
leaves no Envoy or service-go process.
Each lab runs in the browser once, in one edition, alternating across labs (``in_browser``: odd-numbered
labs Chinese, even English): the editions' code cells are identical but for ``lang``
(``tests/notebooks/test_editions.py``) and each edition of each lab runs headless once (``lab_run``).
Lab 01's Chinese run is also the CJK-rendering check: its Chinese text must be drawn as glyphs, not boxes.
Screenshots go to ``test-artifacts/browser/`` (the Chinese run's names start with ``zh-``).

chromium and a CJK font are required: CI installs them (``tools/system-deps.sh``: chromium,
fonts-noto-cjk); when one is missing the test FAILS.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from lablib.i18n import t
from lablib.labs import lab_info
from lablib.labs.circuit_breaking import exercise as ex
from lablib.notebook.checks import lab_processes
from lablib.notebook.theory_view import limits_for_files
from tests.support import CJK, free_port, lab_error_names

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
NOTEBOOK = LABS / "01-circuit-breaking.ipynb"
#: the notebook each edition's test opens
EDITIONS = {"en": NOTEBOOK, "zh": LABS / "zh" / NOTEBOOK.name}
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("LABLIB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def small(lab: str) -> dict[str, str]:
    """CI's values for ``lab``'s parameters (``LABS``), as Python source lines take them; the notebook's
    other parameters keep their defaults."""
    return {name: repr(value) for name, value in lab_info(lab).ci_parameters.items()}


def in_browser(lab: str, **overrides: object) -> object:
    """The one edition of ``lab`` the browser runs, alternating across labs (odd numbers Chinese, even
    English), as the ``jupyterlab`` fixture's parameter: ``(lang, notebook, small parameters)``;
    ``overrides`` replace some of CI's values (None: what the student leaves to the widgets)."""
    info = lab_info(lab)
    lang = "zh" if int(info.number) % 2 else "en"
    notebook = LABS / info.notebook if lang == "en" else LABS / "zh" / info.notebook
    parameters = {**small(lab), **{name: repr(value) for name, value in overrides.items()}}
    return pytest.param((lang, notebook, parameters), id=lang)


MARKER_VAR = "LABLIB_BROWSER_RUN"

pytestmark = [pytest.mark.browser, pytest.mark.envoy]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _small_copy(notebook: Path, small: dict[str, str]) -> Path:
    """``notebook`` with a small ``parameters`` cell, next to it (same paths, same kernel cwd)."""
    nb = nbformat.read(notebook, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "the lab notebook must have one cell tagged 'parameters'"
    # Like papermill: the defaults stay, the small values come after them and win.
    params[0].source += "\n" + "".join(f"{name} = {value}\n" for name, value in small.items())
    path = notebook.parent / f"browser-test-{uuid.uuid4().hex[:8]}.ipynb"
    nbformat.write(nb, path)
    return path


def _settings_dir(path: Path) -> Path:
    """Private JupyterLab user settings: every cell in the DOM (no windowing), no news pop-up.

    JupyterLab 4 renders only the cells near the viewport by default; the test counts outputs of every cell.
    """
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        target = path / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    return path


@pytest.fixture
def jupyterlab(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """``make lab`` on a free port with a token, and a small copy of the notebook ``request.param`` names
    (``(lang, notebook, small parameters)``, by indirect parametrization); yields url parts; stops the
    server's whole process group."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install it (apt-get install -y chromium); "
            "this test must not be skipped",
            pytrace=False,
        )
    fc_list = shutil.which("fc-list")
    fonts = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout if fc_list else ""
    lang, source, parameters = request.param
    if lang == "zh" and not fonts.strip():
        pytest.fail("no CJK font (fc-list :lang=zh is empty): install fonts-noto-cjk (tools/system-deps.sh)",
                    pytrace=False)
    port, token = free_port(), secrets.token_hex(16)
    marker = uuid.uuid4().hex
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"lablib-browser-{marker[:8]}"
    settings = _settings_dir(home / "jupyterlab-settings")
    env = {
        **os.environ,
        "LABLIB_HOME": str(home),
        MARKER_VAR: marker,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "jupyterlab-workspaces"),
    }
    env.pop("JUPYTER_TOKEN", None)
    notebook = _small_copy(source, parameters)
    lab_no = "" if source in EDITIONS.values() else f"lab{source.stem[:2]}-"  # lab 01: names as before
    log = ARTIFACTS / f"{lab_no}{'' if lang == 'en' else lang + '-'}jupyterlab.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # -o: the venv this test runs in is installed already; make must not reinstall it under running processes.
    lab_args = f"--no-browser --ServerApp.token={token} --ServerApp.open_browser=False"
    cmd = ["make", "-o", ".venv/bin/.installed", "lab", f"LAB_PORT={port}", f"LAB_ARGS={lab_args}"]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            if _answers(f"{base}/api/status?token={token}"):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"JupyterLab did not start (exit {server.poll()}); see {log}:\n"
                    + log.read_text(errors="replace")[-3000:],
                    pytrace=False,
                )
            time.sleep(0.3)
        yield {"base": base, "token": token, "notebook": notebook, "marker": f"{MARKER_VAR}={marker}",
               "lang": lang, "home": home}
    finally:
        with contextlib.suppress(OSError):
            req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(req, timeout=5).close()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        with contextlib.suppress(OSError):
            os.killpg(server.pid, signal.SIGKILL)  # anything of the group still alive
        leftover = lab_processes(marker=f"{MARKER_VAR}={marker}", names=("",))
        for pid in leftover:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        notebook.unlink(missing_ok=True)
        checkpoints = notebook.parent / ".ipynb_checkpoints"
        (checkpoints / notebook.name.replace(".ipynb", "-checkpoint.ipynb")).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            checkpoints.rmdir()  # only if empty
        shutil.rmtree(home, ignore_errors=True)
        assert not leftover, f"processes left after JupyterLab stopped: {leftover}"


CELLS = ".jp-NotebookPanel .jp-Notebook .jp-Cell"
IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
# JupyterLab renders a cell's error (a traceback) with the stderr mime type, like plain stderr (fortio's
# summary, which says "Error cases :"); a traceback or an "XxxError: " line tells them apart, and so does the
# one line lablib.notebook.set_language shows for a LabError ("ValidationFailed: …", "EnvoyError（错误）：…").
TRACEBACK = rf"Traceback|^\w*Error: |^(?:{'|'.join(sorted(lab_error_names()))})(?:: |（错误）：)"
ERROR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
FAILED_CELL = (
    f"[...document.querySelectorAll({ERROR!r})].some(e => /{TRACEBACK}/m.test(e.innerText))"
)
POINTS = ".lablib-explorer .js-plotly-plot .scatterlayer .trace .points path.point"


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def _run_all_above(page) -> None:
    """Run > Run All Above Selected Cell; retried when no cell started (a menu click can land too early)."""
    started = (
        "[...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.innerText))"
    )
    for _ in range(3):
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Above Selected Cell").click()
        try:
            page.wait_for_function(started, timeout=10_000)
            return
        except Exception:  # playwright TimeoutError: try the menu again
            page.keyboard.press("Escape")
    raise AssertionError("Run All Above Selected Cell did not start any cell")


def wait_until_ready(page, ready: str, timeout: int) -> None:
    """Wait until the page's JavaScript condition ``ready`` holds, or a cell fails (JupyterLab then drops the
    queued cells); fail with the failed cell's error."""
    page.wait_for_function(f"{ready} || {FAILED_CELL}", timeout=timeout)
    failures = [t for t in page.locator(ERROR).all_inner_texts() if re.search(TRACEBACK, t, re.M)]
    assert not failures, "a cell failed:\n" + "\n".join(failures)[-3000:]


def _explorer_points(page) -> int:
    """Markers drawn in the explorer's plot (plotly draws one ``path.point`` per marker)."""
    return page.locator(POINTS).count()


#: True when the page's markdown font draws two different Chinese characters differently: without a CJK font
#: both are the same "missing glyph" box.
CJK_GLYPHS = """() => {
  const md = document.querySelector('.jp-RenderedMarkdown');
  const style = getComputedStyle(md);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext('2d');
  ctx.font = `32px ${style.fontFamily}`;
  const draw = (ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.fillText(ch, 8, 44);
    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(',');
  };
  const a = draw('熔'), b = draw('断'), blank = draw(' ');
  return a !== b && a !== blank && b !== blank;
}"""


def _listing(lab: dict[str, object], path: str) -> dict[str, str]:
    """``name -> type`` of a folder of the notebook directory, from the running server's contents API."""
    with urllib.request.urlopen(f"{lab['base']}/api/contents/{path}?token={lab['token']}", timeout=10) as r:
        return {item["name"]: item["type"] for item in json.load(r)["content"]}

def drag_slider(page, slider, fraction: float) -> int:
    """Drag an ipywidgets slider's handle with the mouse to ``fraction`` of its track
    (continuous_update=False: the value lands on release); return the new value its readout shows."""
    from playwright.sync_api import expect

    readout = slider.locator(".widget-readout")
    before_value = readout.inner_text().strip()
    track = slider.locator(".noUi-target").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * fraction, handle["y"] + handle["height"] / 2, steps=8)
    page.mouse.up()
    expect(readout).not_to_have_text(before_value)
    return int(readout.inner_text().strip())


def open_notebook(browser, lab) -> tuple:
    """Open the fixture's notebook in a new page and wait until every cell is there and the kernel is idle;
    return ``(page, cells, number of cells)``."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(f"{lab['base']}/lab/tree/{lab['notebook'].relative_to(LABS).as_posix()}?token={lab['token']}")
    total = len(nbformat.read(lab["notebook"], as_version=4).cells)
    page.wait_for_function(f"document.querySelectorAll({CELLS!r}).length >= {total}", timeout=60_000)
    idle = page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle")
    expect(idle).to_have_count(1, timeout=60_000)
    return page, page.locator(CELLS), total


def save_failure(page, prefix: str) -> None:
    """After a failed step: a screenshot, and the prompts and outputs as text, in test-artifacts/browser/."""
    if page is None:
        return
    with contextlib.suppress(Exception):
        _shot(page, f"{prefix}failure")
        prompts = page.locator(".jp-InputPrompt").all_inner_texts()
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        (ARTIFACTS / f"{prefix}failure.txt").write_text(
            "prompts: " + " ".join(t.strip() for t in prompts) + "\n\n" + "\n---\n".join(outputs)
        )


def run_cleanup_cell(page, cell, marker: str, shot: str) -> None:
    """Run the notebook's last cell in place; its check must pass and no process of the lab may be left."""
    from playwright.sync_api import expect

    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")  # run in place (Shift+Enter would add a cell below)
    done = cell.locator(".lablib-check")
    expect(done).to_have_count(1, timeout=60_000)
    expect(done).to_have_attribute("data-ok", "true")
    cell.scroll_into_view_if_needed()
    _shot(page, shot)
    left = lab_processes(marker=marker)
    assert left == {}, f"envoy/service-go still running after the cleanup cell: {left}"


#: Lab 01 as a student opens it: no prediction, no exercise answer as parameters (the widgets take them).
STUDENT = {name: None for name in lab_info("01").ci_parameters if name.startswith(("predict_", "exercise_"))}
#: A typical wrong answer (``tests/exercises``): raise both limits to c, so 30 requests reach service-go.
WRONG = (ex.START.replace("maxConnections: 10", "maxConnections: 30")
         .replace("http2MaxRequests: 10", "http2MaxRequests: 30")
         .replace("        http1MaxPendingRequests: 10\n", ""))
#: Not YAML at line 6 (a mapping value where a scalar is).
NOT_YAML = ex.SOLUTION.replace("  host: service-go", "  host: service-go: x")
#: What no student-facing text of a widget may show: a traceback or an exception class name.
NO_ERROR_NAMES = re.compile(r"Traceback|[A-Za-z]+Error\b|" + "|".join(sorted(lab_error_names())))
EXERCISE = ".lablib-exercise"
RESULT = f"{EXERCISE} .lablib-exercise-result"


def _cell(notebook: Path, cell_id: str) -> int:
    """The index of the notebook's cell with this id (the generator's ``id=`` in ``tools/notebooks``)."""
    ids = [c.get("id") for c in nbformat.read(notebook, as_version=4).cells]
    return ids.index(cell_id)


def _run_cells(page, cells, first: int, last: int) -> None:
    """Select cells ``first`` to ``last`` (a click, then Shift+click) and run them in place (Ctrl+Enter)."""
    from playwright.sync_api import expect

    cells.nth(first).locator(".jp-InputPrompt").click()
    cells.nth(last).locator(".jp-InputPrompt").click(modifiers=["Shift"])
    expect(page.locator(f"{CELLS}.jp-mod-selected")).to_have_count(last - first + 1)
    page.keyboard.press("Control+Enter")


def _breaker(home: Path) -> dict[str, int]:
    """The thresholds the client sidecar's Envoy runs for service-go's cluster now: its admin ``/clusters``,
    asked directly on the admin's Unix socket (``<LABLIB_HOME>/<lab>/logs/``), not through lablib."""
    sockets = sorted(home.glob("*/logs/fortio-sidecar.admin.sock"))
    assert len(sockets) == 1, sockets
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sockets[0]))
        s.sendall(b"GET /clusters HTTP/1.1\r\nHost: envoy\r\nConnection: close\r\n\r\n")
        text = b"".join(iter(lambda: s.recv(65536), b"")).decode()
    assert text.startswith("HTTP/1.1 200 "), text[:200]
    head = f"{ex.CLUSTER}::default_priority::"
    return {k: int(v) for line in text.splitlines() if line.startswith(head)
            for k, v in [line.removeprefix(head).split("::")]}


def _submit(page, text: str, state: str) -> str:
    """Type ``text`` into the exercise's box, press Check, wait for the result in ``state``; its text (no
    traceback, no exception class name in it)."""
    widget = page.locator(EXERCISE)
    widget.locator(".lablib-exercise-answer textarea").fill(text)
    widget.locator("button.lablib-exercise-check").click()
    wait_until_ready(page, f"document.querySelector(\"{RESULT}[data-state='{state}']\")"
                     f" || document.querySelector('{EXERCISE} .lablib-error')", timeout=120_000)
    shown = widget.inner_text()
    assert page.locator(f"{RESULT}[data-state='{state}']").count() == 1, shown
    assert not NO_ERROR_NAMES.search(shown), shown
    return page.locator(RESULT).inner_text()


@pytest.mark.parametrize("jupyterlab", [in_browser("01", **STUDENT)], indirect=True)
def test_notebook_in_jupyterlab_prediction_slider_exercise_and_cleanup(jupyterlab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    lab = jupyterlab
    lang = str(lab["lang"])
    zh = lang == "zh"
    prefix = "zh-" if zh else ""
    workers = int(lab_info("01").ci_parameters["workers"])
    # make lab serves labs/: the Chinese edition is the folder zh/ there, with the same file names
    assert _listing(lab, "").get("zh") == "directory"
    assert {p.name for p in EDITIONS.values()} <= set(_listing(lab, "zh"))
    predict, exercise = _cell(lab["notebook"], "predict"), _cell(lab["notebook"], "exercise")
    summary = _cell(lab["notebook"], "summary-table")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page, cells, total = open_notebook(browser, lab)
            if zh:
                expect(page.locator(".jp-RenderedMarkdown h2", has_text="第 1 步")).to_have_count(1)
                assert page.evaluate(CJK_GLYPHS), "Chinese text is drawn as boxes: no CJK font in the browser"
            _shot(page, f"{prefix}01-opened")

            # Up to the predictions: Run All Above with the cell after them selected.
            cells.nth(predict + 1).locator(".jp-InputPrompt").click()
            _run_all_above(page)
            wait_until_ready(page, "document.querySelectorAll('.lablib-prediction').length === 3",
                             timeout=180_000)
            expect(page.locator(IDLE)).to_have_count(1, timeout=60_000)
            # Type the 503 share expected under the seed's rule, lock it in: it freezes.
            first = page.locator(".lablib-prediction").first
            box = first.locator(".lablib-prediction-input input")
            box.press_sequentially("50")
            first.locator("button.lablib-lock").click()
            locked = first.locator(".lablib-prediction-status[data-locked='true']")
            expect(locked).to_have_count(1, timeout=10_000)
            expect(box).to_be_disabled()
            expect(first.locator("button.lablib-lock")).to_be_disabled()
            assert "50" in locked.inner_text() and (not zh or CJK.search(locked.inner_text()))
            first.scroll_into_view_if_needed()
            _shot(page, f"{prefix}01b-prediction-locked")

            # Then every cell from the runs to the exercise's widget.
            _run_cells(page, cells, predict + 1, exercise)
            explorer = page.locator(".lablib-explorer")
            wait_until_ready(page, f"document.querySelector('{EXERCISE}')", timeout=180_000)
            expect(page.locator(IDLE)).to_have_count(1, timeout=60_000)
            checks = page.locator(".lablib-check")
            assert checks.count() >= 5, f"expected the check cells to render, got {checks.count()}"
            failed = page.locator(".lablib-check[data-ok='false']")
            assert failed.count() == 0, failed.all_inner_texts()
            if zh:  # the run-time text follows the notebook's lang = "zh"
                verdicts = checks.all_inner_texts()
                assert all(CJK.search(text) for text in verdicts), verdicts
                assert CJK.search(page.locator(".lablib-explain").first.inner_text())
            # the locked prediction stands next to theory and measurement; the two left empty are skipped
            expect(page.locator(".lablib-verdict[data-question='seed_share'][data-outcome='skipped']")
                   ).to_have_count(0)
            assert "50%" in page.locator(".lablib-verdict[data-question='seed_share']").inner_text()
            expect(page.locator(".lablib-verdict[data-outcome='skipped']")).to_have_count(2)
            plots = page.locator(".js-plotly-plot")
            assert plots.count() >= 5  # share, latency, admitted, counters, explorer
            for i, name in enumerate(("share", "latency", "admitted", "counters")):
                plots.nth(i).scroll_into_view_if_needed()
                plots.nth(i).screenshot(path=str(ARTIFACTS / f"{prefix}plot-{name}.png"))
            for css, name in (
                (".lablib-side-by-side", "dr-vs-cluster"),
                (".lablib-limits", "limits"),
                (".lablib-compare", "book-vs-ours"),
                (".lablib-explain", "explain-queueing"),
                (".lablib-verdict", "prediction-verdict"),
            ):
                page.locator(css).first.scroll_into_view_if_needed()
                page.locator(css).first.screenshot(path=str(ARTIFACTS / f"{prefix}table-{name}.png"))
            explorer.scroll_into_view_if_needed()
            expect(explorer.locator(".js-plotly-plot .scatterlayer")).to_be_visible()
            _shot(page, f"{prefix}02-all-run-explorer")

            # Move the concurrency slider with the mouse (continuous_update=False: the value lands on release)
            slider = explorer.locator(".widget-slider").first
            moved = drag_slider(page, slider, 0.7)
            assert 55 <= moved <= 85, f"slider moved to {moved}"
            _shot(page, f"{prefix}03-slider-moved")

            points_before = _explorer_points(page)
            runs_before = int(explorer.locator(".lablib-status").get_attribute("data-runs"))
            explorer.locator("button.lablib-run").click()
            expect(explorer.locator(f".lablib-status[data-runs='{runs_before + 1}']")).to_have_count(
                1, timeout=60_000
            )
            page.wait_for_function(
                "([sel, n]) => document.querySelectorAll(sel).length > n",
                arg=[POINTS, points_before],
                timeout=20_000,
            )
            assert _explorer_points(page) == points_before + 1
            status = explorer.locator(".lablib-status").inner_text()
            assert f"c={moved}:" in status, status
            bar = explorer.locator(".progress-bar")
            assert "100%" in (bar.get_attribute("style") or ""), bar.get_attribute("style")
            _shot(page, f"{prefix}04-after-run")

            # The exercise: a typical wrong answer gets the hint meant for it (the catalogue's first step,
            # with the numbers of that rule) ...
            rule = tmp_path / "wrong.yaml"
            rule.write_text(WRONG)
            key, values = ex.diagnose(limits_for_files([ex.SERVICE, rule, ex.ROUTE], workers=workers)[0],
                                      0.0, 0)
            assert key == "too_many_in_flight"
            shown = _submit(page, WRONG, "failed")
            hint = page.locator(f"{RESULT} .lablib-hint[data-hint='{key}'][data-step='1']")
            expect(hint).to_have_count(1)
            assert t("exercise.lab01.hint.too_many.1", lang, **values) in hint.inner_text(), shown
            assert t("exercise.failed", lang, title=t("exercise.lab01.title", lang)) in shown
            assert _breaker(lab["home"])["max_requests"] == 30  # applied: Envoy runs it
            page.locator(EXERCISE).scroll_into_view_if_needed()
            _shot(page, f"{prefix}04b-exercise-hint")

            # ... an answer that is not YAML gets the validator's error at its line, and nothing changes ...
            shown = _submit(page, NOT_YAML, "refused")
            problem = page.locator(f"{RESULT} .lablib-problem").first.inner_text()
            assert re.search(r"exercise-lab01\.yaml:6\b", problem), shown
            assert not zh or CJK.search(problem), problem
            assert t("exercise.refused", lang) in shown
            breaker = _breaker(lab["home"])
            assert (breaker["max_connections"], breaker["max_requests"]) == (30, 30), breaker  # the last
            _shot(page, f"{prefix}04c-exercise-refused")

            # ... and the reference answer passes, with no hint.
            shown = _submit(page, ex.SOLUTION, "passed")
            assert page.locator(f"{RESULT} .lablib-criterion[data-ok='true']").count() == 2, shown
            expect(page.locator(f"{RESULT} .lablib-hint")).to_have_count(0)
            breaker = _breaker(lab["home"])
            assert (breaker["max_connections"], breaker["max_requests"]) == (11, 15), breaker
            _shot(page, f"{prefix}04d-exercise-passed")

            # The graded cell and the summary: the locked prediction, the two skipped, the exercise passed.
            _run_cells(page, cells, exercise + 1, summary)
            table = page.locator(".lablib-summary")
            wait_until_ready(page, "document.querySelector('.lablib-summary')", timeout=60_000)
            row = table.locator("tr[data-kind='prediction'][data-id='seed_share']")
            assert row.get_attribute("data-outcome") != "skipped" and "50%" in row.inner_text()
            expect(table.locator("tr[data-kind='prediction'][data-outcome='skipped']")).to_have_count(2)
            passed = table.locator("tr[data-kind='exercise'][data-id='lab01'][data-outcome='passed']")
            expect(passed).to_have_count(1)
            assert t("summary.attempts", lang, outcome=t("summary.outcome.passed", lang), n=3) in \
                passed.inner_text()
            table.scroll_into_view_if_needed()
            _shot(page, f"{prefix}04e-summary")

            # The cleanup cell, last.
            run_cleanup_cell(page, cells.nth(total - 1), lab["marker"], f"{prefix}05-cleaned-up")
        except Exception:
            save_failure(page, prefix)
            raise
        finally:
            browser.close()
