"""A progress bar for slow cells: an ipywidgets bar that is also a ``ProgressCallback`` (done, total, msg)."""

from __future__ import annotations

import html

import ipywidgets as w

from lablib.i18n import DEFAULT_LANG, check_lang, render

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """Shows ``done/total`` and the last message; pass it as ``progress=`` to ``Lab`` calls and ``sweep``.

    Messages (``lablib.i18n.Msg`` from the backends) are shown in ``lang``; ``messages`` keeps them as given.
    """

    def __init__(self, title: str = "", *, lang: str = DEFAULT_LANG) -> None:
        self.title = title
        self.lang = check_lang(lang)
        self.bar = w.IntProgress(
            value=0,
            min=0,
            max=1,
            description=title[:24],
            style={"description_width": "initial"},
            layout=w.Layout(width="420px"),
        )
        self.label = w.HTML()
        self.widget = w.HBox([self.bar, self.label])
        self.messages: list[str] = []

    def __call__(self, done: int, total: int, message: str = "") -> None:
        self.bar.max = max(int(total), 1)
        self.bar.value = min(int(done), self.bar.max)
        if message:
            self.messages.append(message)
            self.label.value = f"<span style='font-family:monospace'>{html.escape(self.text(message))}</span>"
        if total and done >= total:
            self.bar.bar_style = "success"

    def text(self, message: str) -> str:
        """``message`` as the bar shows it: in the bar's language."""
        return render(message, self.lang)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def progress_bar(title: str = "", *, lang: str = DEFAULT_LANG) -> ProgressBar:
    """A ``ProgressBar``, displayed at once in a notebook cell (so it shows while the cell runs)."""
    bar = ProgressBar(title, lang=lang)
    try:
        from IPython import get_ipython

        if get_ipython() is not None:
            from IPython.display import display

            display(bar.widget)
    except ImportError:  # plain Python: the callback still works, nothing to show
        pass
    return bar
