"""What every lab's explorer shares: the Run button, progress and status line, and how an error is shown.

An explorer runs in a button's callback, where an exception would go to the browser's log: each explorer
catches it and shows ``error_html`` in its status line instead (a ``LabError`` in the notebook's language, one
line, never a traceback).
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from typing import Any

import ipywidgets as w

from lablib.i18n import check_lang, render, t
from lablib.notebook.export import live_widget
from lablib.notebook.language import error_text

__all__ = ["ExplorerShell", "error_html"]


def error_html(error: BaseException, lang: str) -> str:
    """An error caught in an explorer's callback, for its status line: class and message in ``lang`` (a
    ``LabError`` in the notebook's language), never a traceback."""
    text = html.escape(error_text(error, lang)).replace("\n", "<br>")  # ValidationFailed: one problem a line
    return f"<b class='lablib-error' style='color:#cf222e'>{text}</b>"


class ExplorerShell:
    """What every explorer is made of: a Run button, a progress bar and a status line that counts the runs.

    A lab's explorer adds its controls and figure, builds ``self.widget``, keeps what it ran in ``self.runs``
    (the status line counts them; or it overrides ``runs_done``) and implements ``run()`` (what Run does,
    callable without a click from a cell or a test). Run's callback shows any error in the status line with
    :func:`error_html` and always enables the button again.
    """

    widget: w.Widget
    runs: list[Any]

    def __init__(self, *, lang: str = "en", progress_max: int = 100, tooltip: str | None = None) -> None:
        self.lang = check_lang(lang)
        self.run_button = w.Button(description=t("notebook.explorer.run", self.lang), button_style="primary",
                                   icon="play", tooltip=tooltip or "")
        self.run_button.add_class("lablib-run")
        self.run_button.on_click(lambda _: self._on_run())
        self.progress = w.IntProgress(value=0, min=0, max=progress_max, layout=w.Layout(width="300px"))
        self.status = w.HTML()

    @property
    def runs_done(self) -> int:
        """How many runs the explorer has shown (its status line says so)."""
        return len(self.runs)

    def run(self) -> Any:
        """What the Run button does."""
        raise NotImplementedError

    def _status_text(self, message: str) -> str:
        runs = self.runs_done
        return (f"<span class='lablib-status' data-runs='{runs}'>"
                f"{t('notebook.explorer.status', self.lang, message=message, runs=runs)}</span>")

    def _step(self, done: int, message: str) -> None:
        """A run's progress: the bar at ``done`` (of ``progress_max``) and ``message`` in the status line."""
        self.progress.value = done
        self.status.value = self._status_text(message)

    def say(self, message: str) -> None:
        """Show ``message`` (a Msg renders in the explorer's language) in the status line."""
        self.status.value = self._status_text(render(message, self.lang))

    def show_error(self, error: BaseException) -> None:
        """An error of a Run, in the status line (one line in the explorer's language, never a traceback)."""
        self.status.value = self._status_text(error_html(error, self.lang))

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """The Run button is disabled while a run lasts, whatever happens in it."""
        self.run_button.disabled = True
        try:
            yield
        finally:
            self.run_button.disabled = False

    def _on_run(self) -> None:
        try:
            self.run()
        except Exception as exc:  # a cell-less callback has nowhere else to show the error
            self.show_error(exc)
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(live_widget(self.widget, lang=self.lang))  # a static export says it needs a kernel
