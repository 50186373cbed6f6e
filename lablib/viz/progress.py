"""A progress bar for slow cells: an ipywidgets bar that is also a ``ProgressCallback`` (done, total, msg)."""

from __future__ import annotations

import ipywidgets as w

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """Shows ``done/total`` and the last message; pass it as ``progress=`` to ``Lab`` calls and ``sweep``."""

    def __init__(self, title: str = "") -> None:
        self.title = title
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
            self.label.value = f"<span style='font-family:monospace'>{message}</span>"
        if total and done >= total:
            self.bar.bar_style = "success"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def progress_bar(title: str = "") -> ProgressBar:
    """A ``ProgressBar``, displayed at once in a notebook cell (so it shows while the cell runs)."""
    bar = ProgressBar(title)
    try:
        from IPython import get_ipython

        if get_ipython() is not None:
            from IPython.display import display

            display(bar.widget)
    except ImportError:  # plain Python: the callback still works, nothing to show
        pass
    return bar
