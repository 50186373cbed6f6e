"""Lab 05's explorer: attempts, retryOn, perTryTimeout, maxRetries, the budget's percent, the failure
fraction and the concurrency; Run applies the route and the rule that change, sets every service-go pod's
fault and adds the run to the amplification and 503-share plots.

Like the other labs' explorers (``lablib.notebook.explorer.ExplorerShell``): nothing runs while the controls
move, the run happens in the button's callback, errors show in the status line in the notebook's language.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from lablib.i18n import t
from lablib.labs.retries_meet_breakers.experiment import RetryRun, measure
from lablib.labs.retries_meet_breakers.mesh import apply_rule, retry_route, retry_rule, service_pods
from lablib.labs.retries_meet_breakers.plots import add_point, explorer_figures
from lablib.labs.retries_meet_breakers.theory import amplification, retries_503
from lablib.notebook.explorer import ExplorerShell
from lablib.translate import defaults

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = ["NO_BUDGET", "NO_PER_TRY", "PER_TRY", "RETRY_ON_CHOICES", "RetryExplorer"]

#: ``retryOn`` choices: every 5xx, gateway errors (502/503/504), the 503 code alone, and Istio's default.
RETRY_ON_CHOICES = ("5xx", "gateway-error", "retriable-status-codes,503", defaults.ISTIO_DEFAULT_RETRY_ON)
NO_PER_TRY = "-"
PER_TRY = (NO_PER_TRY, "10ms", "50ms", "200ms", "1s")
#: 0 on the budget slider: no ``retryBudget`` (maxRetries alone limits retries).
NO_BUDGET = 0
_STYLE = {"description_width": "170px"}
_LAYOUT = w.Layout(width="440px")


def _slider(description: str, value: int, low: int, high: int) -> w.IntSlider:
    return w.IntSlider(value=value, min=low, max=high, description=description, continuous_update=False,
                       style=_STYLE, layout=_LAYOUT)


class RetryExplorer(ExplorerShell):
    """Controls → route + rule + faults → one ``fortio`` → a point on the amplification and 503-share
    plots, on its setting's trace. ``run()`` does what Run does and returns the ``RetryRun`` (tests call it
    directly). Manifests it writes go to ``directory``."""

    def __init__(self, lab: Lab, *, directory: Path, attempts: int = 2, retry_on: str = "5xx",
                 max_retries: int = 0, budget: int = NO_BUDGET, fraction: float = 0.5, concurrency: int = 10,
                 calls_per_thread: int = 20, seed: int = 1, lang: str = "en") -> None:
        super().__init__(lang=lang, progress_max=3)
        lang = self.lang
        self.lab, self.directory = lab, Path(directory)
        self.calls_per_thread, self.seed = calls_per_thread, seed
        self.runs: list[RetryRun] = []
        self._applied: dict[str, Any] = {}  # what the lab runs now (route, rule, fraction): applied on change
        self.attempts = _slider(t("retries.explorer.attempts", lang), attempts, 0, 5)
        self.retry_on = w.Dropdown(options=list(RETRY_ON_CHOICES), value=retry_on,
                                   description=t("retries.explorer.retry_on", lang), style=_STYLE,
                                   layout=_LAYOUT)
        self.per_try = w.Dropdown(options=list(PER_TRY), value=NO_PER_TRY,
                                  description=t("retries.explorer.per_try", lang), style=_STYLE,
                                  layout=_LAYOUT)
        self.max_retries = _slider(t("retries.explorer.max_retries", lang), max_retries, 0, 20)
        self.budget = _slider(t("retries.explorer.budget", lang), budget, 0, 100)
        self.fraction = w.FloatSlider(value=fraction, min=0.0, max=1.0, step=0.05, readout_format=".2f",
                                      continuous_update=False, style=_STYLE, layout=_LAYOUT,
                                      description=t("retries.explorer.fraction", lang))
        self.concurrency = _slider(t("retries.explorer.concurrency", lang), concurrency, 1, 50)
        for control in (self.attempts, self.retry_on, self.per_try, self.max_retries, self.budget,
                        self.fraction, self.concurrency):
            control.add_class("lablib-control")
        self.status.value = self._status_text(t("notebook.explorer.ready", lang))
        self.figures = explorer_figures(fraction, lang=lang)
        controls = w.VBox([self.attempts, self.retry_on, self.per_try, self.max_retries, self.budget,
                           self.fraction, self.concurrency, w.HBox([self.run_button, self.progress]),
                           self.status])
        self.widget = w.VBox([controls, w.HBox(list(self.figures.values()))])
        self.widget.add_class("lablib-explorer")

    def label(self) -> str:
        """The trace of the current setting (everything but ``attempts``, the plots' x axis)."""
        return t("retries.explorer.label", self.lang, retry_on=self.retry_on.value.split(",")[0],
                 per_try=self.per_try.value, max_retries=self.max_retries.value or "-",
                 budget=self.budget.value or "-", p=self.fraction.value, c=self.concurrency.value)

    def _route(self) -> dict[str, Any]:
        per_try = self.per_try.value if self.per_try.value != NO_PER_TRY else None
        return {"attempts": int(self.attempts.value), "retry_on": self.retry_on.value,
                "per_try_timeout": per_try}

    def _rule(self) -> dict[str, Any]:
        return {"max_retries": int(self.max_retries.value) or None,
                "budget": {"percent": int(self.budget.value)} if self.budget.value != NO_BUDGET else None}

    def _apply(self) -> None:
        route, rule, fraction = self._route(), self._rule(), float(self.fraction.value)
        if route != self._applied.get("route"):
            self.lab.apply(retry_route(self.directory, **route))
            self._applied["route"] = route
        if rule != self._applied.get("rule"):
            apply_rule(self.lab, retry_rule(self.directory, **rule))
            self._applied["rule"] = rule
        if fraction != self._applied.get("fraction"):
            for pod in service_pods(self.lab):  # every pod fails alike: a retry meets the same fraction
                self.lab.set_fault(pod, code=503, fraction=fraction, seed=self.seed)
            self._applied["fraction"] = fraction

    def theory(self, run: RetryRun) -> float:
        """What theory expects for ``run``: its amplification for the measured fraction (1.0 when retryOn
        does not retry the app's 503)."""
        codes = tuple(int(c) for c in self.retry_on.value.split(",") if c.strip().isdigit())
        if not retries_503(self.retry_on.value, codes):
            return 1.0
        return amplification(run.failure_fraction, run.attempts)

    def run(self) -> RetryRun:
        """What Run does: apply what changed, run fortio once, add the point."""
        with self.busy():
            self._step(0, t("retries.explorer.applying", self.lang))
            self._apply()
            c = int(self.concurrency.value)
            self._step(1, t("retries.explorer.running", self.lang, c=c))
            settings = {**self._route(), **self._rule(), "fraction": float(self.fraction.value)}
            run = measure(self.lab, self.label(), c, calls=max(c, self.calls_per_thread * c),
                          settings=settings)
            self.runs.append(run)
            add_point(self.figures, self.label(), run, theory_p=float(self.fraction.value), lang=self.lang)
            self._step(3, t("retries.explorer.done", self.lang, amplification=run.amplification,
                            theory=self.theory(run), share=100 * run.share_503, overflow=run.retry_overflow))
            return run
