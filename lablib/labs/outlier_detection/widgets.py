"""Sliders for lab 02: failure fraction, consecutive 5xx threshold, maxEjectionPercent, base ejection time.

``Explorer`` shows the knobs and a Run button; a run is one ``experiment()`` (heal, apply the rule made from
the sliders, fail the chosen pods, watch until the ejected host is back) drawn with ``timeline_figure`` and
judged by the checks that apply. ``Explorer.run()`` does the same without a click (CI, or a scripted cell).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import ipywidgets as w
from IPython.display import HTML, display

from lablib._types import PathLike
from lablib.i18n import t
from lablib.labs.outlier_detection import checks
from lablib.labs.outlier_detection.experiment import PODS, Fault, experiment, host_names, stop_after
from lablib.labs.outlier_detection.plots import timeline_figure
from lablib.labs.outlier_detection.rule import LAB, OutlierSettings
from lablib.labs.outlier_detection.timeline import Timeline
from lablib.notebook.explorer import ExplorerShell, error_html
from lablib.notebook.export import figure_widget, live_widget
from lablib.translate import defaults

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = ["UNSET", "Explorer", "longest_failure_run"]

#: The maxEjectionPercent toggle's value for "left out of the rule".
UNSET = "unset"


def longest_failure_run(fraction: float) -> float:
    """The longest run of consecutive failures service-go's deterministic fault pattern produces.

    Call ``n`` fails when ``floor((n+1)·f) > floor(n·f)``, so failures come in runs of at most
    ``ceil(f / (1 - f))`` (``inf`` for f = 1): 0.5 alternates, 0.75 fails 3 then succeeds once.
    """
    if fraction >= 1.0:
        return math.inf
    if fraction <= 0.0:
        return 0
    return math.ceil(fraction / (1.0 - fraction) - 1e-9)


class Explorer(ExplorerShell):
    """The lab's knobs on sliders, and a Run button that runs one experiment with them."""

    def __init__(self, lab: Lab, *, rule_path: PathLike, fraction: float = 1.0, consecutive: int = 3,
                 max_ejection_percent: int | None = 100, base_ejection_s: int = 5, code: int = 503,
                 both_fail: bool = False, qps: float = 40.0, lang: str = "en") -> None:
        super().__init__(lang=lang)
        lang = self.lang
        self.lab, self.rule_path, self.qps = lab, rule_path, qps
        style = {"description_width": "210px"}
        layout = w.Layout(width="520px")
        self.fraction = w.FloatSlider(value=fraction, min=0.0, max=1.0, step=0.05, style=style, layout=layout,
                                      description=t("outlier.explorer.fraction", lang))
        self.consecutive = w.IntSlider(value=consecutive, min=1, max=10, style=style, layout=layout,
                                       description="consecutive5xxErrors")
        # "unset": the field left out, so Envoy's default applies (lab 02's trap: it ejects neither of two).
        self.max_ejection = w.ToggleButtons(
            options=[("100", 100), ("50", 50), (t("outlier.explorer.percent_unset", lang), UNSET)],
            value=UNSET if max_ejection_percent is None else max_ejection_percent, style=style,
            description="maxEjectionPercent")
        self.base = w.IntSlider(value=base_ejection_s, min=2, max=60, style=style, layout=layout,
                                description=t("outlier.explorer.base", lang))
        self.code = w.ToggleButtons(options=[503, 500], value=code, style=style,
                                    description=t("outlier.explorer.code", lang))
        self.failing = w.ToggleButtons(options=["v1", "v1 + v2"], value="v1 + v2" if both_fail else "v1",
                                       style=style, description=t("outlier.explorer.failing", lang))
        self.run_button.description = t("outlier.explorer.run", lang)
        self.button = self.run_button  # the name lab 02's tests and notebook use
        #: The timeline of the last run (a plotly FigureWidget: an Output widget fed a plain Figure shows
        #: nothing in JupyterLab) and, under it, that run's checks.
        self.figure = w.Box()
        self.output = w.Output()
        self.last: Timeline | None = None
        self.runs: list[Timeline] = []

    # -- what the sliders say -------------------------------------------------------------------------------
    def settings(self) -> OutlierSettings:
        return LAB.replace(consecutive_5xx_errors=int(self.consecutive.value), interval="1s",
                           base_ejection_time=f"{int(self.base.value)}s",
                           max_ejection_percent=self.percent())

    def percent(self) -> int | None:
        """The toggle's ``maxEjectionPercent``; None: left out of the rule."""
        value = self.max_ejection.value
        return None if value == UNSET else int(value)

    def allowed_out(self) -> int:
        """How many hosts (``PODS``) Envoy may eject at once: ``100 * k / hosts <= maxEjectionPercent``."""
        percent = self.percent() or defaults.ENVOY_DEFAULT_MAX_EJECTION_PERCENT  # 0 is unset, as in Istio
        return math.floor(len(PODS) * percent / 100)

    def faults(self) -> list[Fault]:
        pods = ["service-go-v1"] + (["service-go-v2"] if self.failing.value == "v1 + v2" else [])
        return [Fault(p, code=int(self.code.value), fraction=float(self.fraction.value)) for p in pods]

    def expect_ejection(self) -> bool:
        """Will a failing host ever answer ``consecutive5xxErrors`` errors in a row?"""
        return longest_failure_run(float(self.fraction.value)) >= int(self.consecutive.value)

    # -- running --------------------------------------------------------------------------------------------
    def run(self) -> Timeline:
        """One experiment with the current slider values; the figure and checks go to the output area."""
        with self.busy():
            settings, faults = self.settings(), self.faults()
            ejects = self.expect_ejection() and self.allowed_out() > 0
            tl = experiment(self.lab, settings, rule_path=self.rule_path, faults=faults,
                            duration_s=settings.base_ejection_time_s + 5.0 if ejects else 4.0,
                            until=stop_after("returned", plus_s=1.0), qps=self.qps, lang=self.lang)
            self.last = tl
            self.runs.append(tl)
            # Replace the outputs trait directly rather than capturing with `with self.output:`: that works
            # from any thread and does not depend on the frontend (headless runs hang on captured output
            # widgets, jupyter/nbclient#312).
            self.output.outputs = ()
            fig = timeline_figure(tl, names=host_names(self.lab), title=self._title(), lang=self.lang)
            self.figure.children = (figure_widget(fig),)
            for check in self.checks(tl):
                self.output.append_display_data(check)
            return tl

    def show_error(self, error: BaseException) -> None:
        """A failed Run's error replaces the output area (this explorer has no status line)."""
        self.output.outputs = ()
        self.output.append_display_data(HTML(error_html(error, self.lang)))

    def checks(self, tl: Timeline) -> list[checks.Check]:
        """The checks that apply to this slider setting."""
        s, lang = self.settings(), self.lang
        run = longest_failure_run(float(self.fraction.value))
        if not self.expect_ejection():
            why = t("outlier.explorer.no_ejection", lang, fraction=self.fraction.value, run=run,
                    threshold=s.consecutive_5xx_errors)
            return [checks.never_ejected(tl, why, lang=lang)]
        hosts, allowed = len(PODS), self.allowed_out()
        percent = s.max_ejection_percent or defaults.ENVOY_DEFAULT_MAX_EJECTION_PERCENT
        if allowed == 0:
            return [checks.max_ejection_refused(tl, hosts, percent, lang=lang)]
        threshold = int(s.consecutive_5xx_errors or defaults.ENVOY_DEFAULT_CONSECUTIVE_5XX)
        out = [checks.ejected_after(tl, threshold, lang=lang),
               checks.returned_after(tl, s.base_ejection_time_s, s.interval_s, lang=lang)]
        if len(self.faults()) == 2:
            out.append(checks.all_ejected_uh(tl, hosts, lang=lang) if allowed >= hosts
                       else checks.max_ejection_kept(tl, hosts, percent, lang=lang))
        return out

    def verdict(self) -> checks.Check:
        """One check cell for the last run: every check that applies to its slider setting."""
        if self.last is None:
            return checks.Check(False, t("outlier.explorer.not_run", self.lang),
                                t("outlier.explorer.not_run_fix", self.lang), self.lang,
                                t("outlier.check.remedy.explorer", self.lang))
        title = t("outlier.explorer.verdict", self.lang, setting=self._title())
        return checks.all_of(title, self.checks(self.last), lang=self.lang)

    def _title(self) -> str:
        s = self.settings()
        return t("outlier.explorer.title", self.lang, fraction=self.fraction.value, code=self.code.value,
                 failing=self.failing.value, threshold=s.consecutive_5xx_errors, base=s.base_ejection_time,
                 percent=self.max_ejection.label)

    def widget(self) -> w.Widget:
        knobs = w.VBox([self.fraction, self.consecutive, self.max_ejection, self.base, self.code,
                        self.failing, self.button])
        return w.VBox([knobs, self.figure, self.output])

    def _ipython_display_(self) -> None:
        display(live_widget(self.widget(), lang=self.lang))  # a static export says it needs a kernel
