"""Lab 03's explorer: route, number of client pods, concurrency per client and Envoy workers per client
sidecar; Run applies what changed, runs every client at once and adds the point to the plot in place.

Like lab 01's ``BreakerExplorer`` (lab 01): nothing runs while the controls move, the run
happens in the button's callback on the kernel's main thread, errors show in the status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as w

from lablib.i18n import t
from lablib.lab_defaults import WORKERS
from lablib.labs.where_the_limit_lives.experiment import ClientsRun, measure
from lablib.labs.where_the_limit_lives.mesh import ROUTES, explorer_clients, use_route
from lablib.labs.where_the_limit_lives.plots import add_run, explorer_figure
from lablib.notebook.explorer import ExplorerShell
from lablib.notebook.runs import fortio_args

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = ["LimitsExplorer"]

_STYLE = {"description_width": "190px"}
_LAYOUT = w.Layout(width="460px")


def _slider(description: str, value: int, low: int, high: int) -> w.IntSlider:
    return w.IntSlider(value=value, min=low, max=high, description=description, continuous_update=False,
                       style=_STYLE, layout=_LAYOUT)


class LimitsExplorer(ExplorerShell):
    """Controls → route + client pods → every client's ``fortio`` at once → a point (503 share vs the
    clients' total concurrency) on the setting's trace. ``run()`` does what Run does and returns the
    ``ClientsRun`` (tests call it directly). Manifests it writes go to ``directory``."""

    def __init__(self, lab: Lab, *, directory: Path, route: str = "none", clients: int = 2,
                 concurrency: int = 20, workers: int = WORKERS, calls_per_thread: int = 10,
                 lang: str = "en") -> None:
        super().__init__(lang=lang, progress_max=3)
        lang = self.lang
        self.lab, self.directory, self.calls_per_thread = lab, Path(directory), calls_per_thread
        self.runs: list[ClientsRun] = []
        self._route: str | None = None  # the route the lab runs (None: unknown, apply on the first Run)
        self.route = w.ToggleButtons(options=list(ROUTES), value=route,
                                     description=t("limits.explorer.route", lang), style=_STYLE)
        self.clients = _slider(t("limits.explorer.clients", lang), clients, 1, 3)
        self.concurrency = _slider(t("limits.explorer.concurrency", lang), concurrency, 1, 60)
        self.workers = _slider(t("limits.explorer.workers", lang), workers, 1, 4)
        self.status.value = self._status_text(t("notebook.explorer.ready", lang))
        self.figure = explorer_figure(lang=lang)
        controls = w.VBox([self.route, self.clients, self.concurrency, self.workers,
                           w.HBox([self.run_button, self.progress]), self.status])
        self.widget = w.VBox([controls, self.figure])
        self.widget.add_class("lablib-explorer")

    def label(self) -> str:
        """The trace of the current setting: route, clients × concurrency, workers."""
        return t("limits.explorer.label", self.lang, route=self.route.value, n=self.clients.value,
                 c=self.concurrency.value, workers=self.workers.value)

    def run(self) -> ClientsRun:
        """What Run does: apply the route and the client pods if they changed, run every client at once."""
        with self.busy():
            if self.route.value != self._route:
                self._step(0, t("limits.explorer.applying", self.lang, route=self.route.value))
                use_route(self.lab, self.route.value)
                self._route = self.route.value
            self._step(1, t("limits.explorer.clients_step", self.lang, n=self.clients.value,
                            workers=self.workers.value))
            pods = explorer_clients(self.lab, int(self.clients.value), int(self.workers.value),
                                    directory=self.directory)
            self._step(2, t("limits.explorer.running", self.lang))
            args = fortio_args(int(self.concurrency.value), calls_per_thread=self.calls_per_thread)
            run = measure(self.lab, dict.fromkeys(pods, args), label=self.label(),
                          workers=int(self.workers.value))
            self.runs.append(run)
            add_run(self.figure, self.label(), run)
            self._step(3, t("limits.explorer.done", self.lang, c=run.concurrency, share=100 * run.share_503,
                            server=run.server_overflows))
            return run
