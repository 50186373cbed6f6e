"""The explorer: sliders for fortio and the DR's connectionPool, a Run button, a progress bar, a live plot.

Nothing runs while sliders move (they only redraw the theory curve, which is pure and fast); pressing Run
applies the knobs' DestinationRule when they changed (validated like a hand-written file), resets the
sidecar's counters, runs fortio once and adds the point to the plot in place (a plotly ``FigureWidget``,
which needs ``anywidget`` with plotly ≥ 6). The run happens in the button's callback on the kernel's main
thread, so the progress bar and plot updates are ordinary widget messages (no background-thread output).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from lablib.i18n import check_lang, t
from lablib.labs.circuit_breaking.knobs import SEED_KNOBS, BreakerKnobs, write_destination_rule
from lablib.notebook.explorer import ExplorerShell
from lablib.notebook.plots import TheoryOverlay, add_point, share_figure, update_theory
from lablib.notebook.runs import RunPoint, run_point

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = ["BreakerExplorer"]

_STYLE = {"description_width": "190px"}
_LAYOUT = w.Layout(width="460px")


def _slider(description: str, value: int, low: int, high: int, tip: str) -> w.IntSlider:
    # continuous_update=False: the value changes on release, not on every pixel of a drag.
    return w.IntSlider(
        value=value,
        min=low,
        max=high,
        description=description,
        tooltip=tip,
        continuous_update=False,
        style=_STYLE,
        layout=_LAYOUT,
    )


class BreakerExplorer(ExplorerShell):
    """Sliders → ``lab.apply`` (generated DR) → ``lab.fortio`` → a point on the 503-share plot.

    ``theory_for(knobs)`` returns the ``TheoryOverlay`` for a knob setting (``knob_theory``);
    ``points`` are earlier runs to show from the start. ``run()`` does what the Run button does and returns
    the new ``RunPoint`` (tests and scripts call it directly).
    """

    def __init__(
        self,
        lab: Lab,
        *,
        theory_for: Callable[[BreakerKnobs], TheoryOverlay] | None = None,
        knobs: BreakerKnobs = SEED_KNOBS,
        points: Iterable[RunPoint] = (),
        base_rule: dict[str, Any] | None = None,
        cluster: str | None = None,
        url: str = "http://service-go/env",
        applied: BreakerKnobs | None = None,
        lang: str = "en",
    ) -> None:
        super().__init__(lang=lang, tooltip=t("notebook.explorer.run_tip", check_lang(lang)))
        lang = self.lang
        self.lab = lab
        self.theory_for = theory_for
        self.base_rule = base_rule
        self.cluster = cluster
        self.url = url
        self.points: list[RunPoint] = list(points)
        self._applied = applied  # knobs of the DR the lab currently has (None: unknown, apply on first Run)

        self.concurrency = _slider(
            t("notebook.explorer.concurrency", lang), 30, 1, 100, t("notebook.explorer.concurrency_tip", lang)
        )
        self.calls = _slider(t("notebook.explorer.calls", lang), 0, 0, 2000,
                             t("notebook.explorer.calls_tip", lang))
        self.qps = _slider(t("notebook.explorer.qps", lang), 0, 0, 2000, t("notebook.explorer.qps_tip", lang))
        unset = t("notebook.explorer.unset", lang)
        self.max_connections = _slider("maxConnections", knobs.max_connections, 0, 100, unset)
        self.max_pending = _slider(
            "http1MaxPendingRequests",
            knobs.http1_max_pending_requests,
            0,
            100,
            t("notebook.explorer.unset_unlimited", lang),
        )
        self.max_requests = _slider("http2MaxRequests", knobs.http2_max_requests, 0, 100, unset)
        self.per_connection = _slider(
            "maxRequestsPerConnection",
            knobs.max_requests_per_connection,
            0,
            100,
            t("notebook.explorer.unset_keepalive", lang),
        )
        self.h2_upgrade = w.Checkbox(
            value=knobs.h2_upgrade, description="h2UpgradePolicy: UPGRADE", style=_STYLE, indent=False
        )
        self.status.value = self._status_text(t("notebook.explorer.ready", lang))

        self.figure = share_figure(
            self.points, self._theory(), widget=True, title=t("notebook.explorer.title", lang), lang=lang
        )
        for knob in self._knob_widgets():
            knob.observe(self._on_knob, names="value")
        controls = w.VBox(
            [
                w.HTML("<b>fortio</b>"),
                self.concurrency,
                self.calls,
                self.qps,
                w.HTML(f"<b>{t('notebook.explorer.pool_heading', lang)}</b>"),
                self.max_connections,
                self.max_pending,
                self.max_requests,
                self.per_connection,
                self.h2_upgrade,
                w.HBox([self.run_button, self.progress]),
                self.status,
            ]
        )
        self.widget = w.VBox([controls, self.figure])
        self.widget.add_class("lablib-explorer")

    # -- state ---------------------------------------------------------------------------------------------
    def _knob_widgets(self) -> list[w.ValueWidget]:
        return [
            self.max_connections,
            self.max_pending,
            self.max_requests,
            self.per_connection,
            self.h2_upgrade,
        ]

    @property
    def knobs(self) -> BreakerKnobs:
        """The DR knobs as the sliders show them now."""
        return BreakerKnobs(
            self.max_connections.value,
            self.max_pending.value,
            self.max_requests.value,
            self.per_connection.value,
            bool(self.h2_upgrade.value),
        )

    def _theory(self) -> TheoryOverlay | None:
        return self.theory_for(self.knobs) if self.theory_for is not None else None

    @property
    def runs_done(self) -> int:
        return len(self.points)

    def _label(self) -> str:
        k = self.knobs
        pending = k.http1_max_pending_requests or "∞"
        return t(
            "notebook.explorer.label",
            self.lang,
            knobs=f"mc={k.max_connections or '∞'} pend={pending} req={k.http2_max_requests or '∞'}"
            f" rpc={k.max_requests_per_connection or '∞'}" + (" h2" if k.h2_upgrade else ""),
        )

    # -- events --------------------------------------------------------------------------------------------
    def _on_knob(self, _change: dict[str, Any]) -> None:
        theory = self._theory()
        if theory is not None:
            update_theory(self.figure, theory, lang=self.lang)
            self.status.value = self._status_text(t("notebook.explorer.theory", self.lang,
                                                    limit=theory.limit))

    def _progress(self, done: int, total: int, message: str) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)
        if message:  # lablib's progress messages may be Msgs (lab.fortio's): shown in the explorer's language
            self.say(message)

    def apply_knobs(self) -> bool:
        """Apply the knobs' DR if it differs from what the lab has; True when something was applied."""
        knobs = self.knobs
        if knobs == self._applied:
            return False
        path = write_destination_rule(knobs, base=self.base_rule)  # validated; in a fresh temp dir
        try:
            self.lab.apply(path)
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
        self._applied = knobs
        return True

    def run(self) -> RunPoint:
        """What Run does: apply changed knobs, run fortio once at the sliders' values, add the point."""
        self.progress.value = 0
        with self.busy():
            if self.apply_knobs():
                self.status.value = self._status_text(t("notebook.explorer.applied", self.lang))
            c = int(self.concurrency.value)
            point = run_point(
                self.lab,
                self.cluster,
                self._label(),
                c,
                repeat=0,
                calls=int(self.calls.value) or None,
                qps=float(self.qps.value),
                url=self.url,
                progress=self._progress,
            )
            self.points.append(point)
            add_point(self.figure, point, lang=self.lang)
            self.progress.value = self.progress.max
            self.status.value = self._status_text(
                f"c={c}: {point.result.codes.get(200, 0)}×200, {point.result.codes.get(503, 0)}×503 "
                f"({100 * point.share_503:.0f}%)"
            )
            return point
