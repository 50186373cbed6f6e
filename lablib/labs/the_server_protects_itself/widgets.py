"""Lab 06's explorer: the number of client pods, each one's concurrency and the server's own limit (or
none: the DestinationRule's pool, as without a Sidecar); Run applies what changed, runs every client at once
and shows what the clients admitted and what the server held.

As the other labs' explorers: nothing runs while the controls move, errors show in the status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as w

from lablib.i18n import t
from lablib.labs.the_server_protects_itself.experiment import (
    DR_ONLY,
    ServerRun,
    apply_server_limit,
    run_servers,
)
from lablib.notebook.clients import start_clients
from lablib.notebook.explorer import ExplorerShell

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = ["ServerExplorer"]

_STYLE = {"description_width": "220px"}
_LAYOUT = w.Layout(width="480px")


class ServerExplorer(ExplorerShell):
    """Controls -> the server's limit (a Sidecar, or none) + client pods -> every client's fortio at once ->
    one row: admitted by the clients, held by the server, its overflows. ``run()`` does what Run does and
    returns the ``ServerRun`` (tests call it directly)."""

    def __init__(self, lab: Lab, *, directory: Path, clients: int = 3, concurrency: int = 20,
                 server_limit: int = 15, calls_per_thread: int = 10, lang: str = "en") -> None:
        super().__init__(lang=lang, progress_max=3)
        lang = self.lang
        self.lab, self.directory, self.calls_per_thread = lab, Path(directory), calls_per_thread
        self.runs: list[ServerRun] = []
        self._applied: int | str | None = None  # the server setting the lab runs (None: unknown yet)
        self.clients = w.IntSlider(value=clients, min=1, max=3, description=t("lab06.explorer.clients", lang),
                                   continuous_update=False, style=_STYLE, layout=_LAYOUT)
        self.concurrency = w.IntSlider(value=concurrency, min=1, max=40, continuous_update=False,
                                       description=t("lab06.explorer.concurrency", lang), style=_STYLE,
                                       layout=_LAYOUT)
        self.own_limit = w.Checkbox(value=True, description=t("lab06.explorer.own_limit", lang), style=_STYLE)
        self.limit = w.IntSlider(value=server_limit, min=1, max=40, continuous_update=False,
                                 description="http2MaxRequests", style=_STYLE, layout=_LAYOUT)
        self.table = w.HTML()
        self.status.value = self._status_text(t("notebook.explorer.ready", lang))
        controls = w.VBox([self.clients, self.concurrency, self.own_limit, self.limit,
                           w.HBox([self.run_button, self.progress]), self.status])
        self.widget = w.VBox([controls, self.table])
        self.widget.add_class("lablib-explorer")

    def setting(self) -> int | str:
        """The server's limit the controls ask for (``DR_ONLY``: no Sidecar)."""
        return int(self.limit.value) if self.own_limit.value else DR_ONLY

    def run(self) -> ServerRun:
        """What Run does: apply the server's limit if it changed, start the clients, run them all at once."""
        with self.busy():
            setting = self.setting()
            if setting != self._applied:
                self._step(0, t("lab06.explorer.applying", self.lang, setting=setting))
                apply_server_limit(self.lab, setting, directory=self.directory)
                self._applied = setting
            self._step(1, t("lab06.explorer.clients_step", self.lang, n=self.clients.value))
            pods = start_clients(self.lab, int(self.clients.value), directory=self.directory)
            self._step(2, t("lab06.explorer.running", self.lang))
            run = run_servers(self.lab, pods, int(self.concurrency.value), limit=setting,
                              calls_per_thread=self.calls_per_thread)
            self.runs.append(run)
            self.table.value = self._table()
            self._step(3, t("lab06.explorer.done", self.lang, admitted=run.admitted, held=run.server_peak,
                            overflows=run.server_overflows))
            return run

    def _table(self) -> str:
        lang = self.lang
        head = "".join(f"<th>{name}</th>" for name in (
            t("lab06.explorer.col.setting", lang), t("lab06.explorer.col.clients", lang),
            t("lab06.explorer.col.admitted", lang), t("lab06.explorer.col.held", lang),
            t("lab06.explorer.col.overflows", lang), t("lab06.explorer.col.upstream", lang)))
        rows = "".join(
            f"<tr><td>{r.limit}</td><td>{r.clients}</td><td>{r.admitted}</td><td>{r.server_peak}</td>"
            f"<td>{r.server_overflows}</td><td>{r.upstream_503}</td></tr>" for r in self.runs[-8:])
        return f"<table class='lablib-runs'><tr>{head}</tr>{rows}</table>"
