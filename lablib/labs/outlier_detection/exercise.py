"""Lab 02's predictions and exercise.

Predictions (``PREDICTIONS``): how long after its ejection the healed v1 comes back (Step 4), and after how
many errors the seed's block ejects (Step 6). The exercise (``EXERCISE``): eject the failing pod within 2 s of
its first error and never eject both, graded on a timeline where v1 fails from 0.5 s and v2 from 3 s;
``diagnose`` (pure) names the wrong idea from the outlier detection Envoy runs and what the run showed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lablib import _yamlio
from lablib.i18n import t
from lablib.labs.outlier_detection.experiment import heal, host_names
from lablib.labs.outlier_detection.observer import DEFAULT_CLUSTER, Action, watch
from lablib.labs.outlier_detection.rule import OutlierSettings
from lablib.labs.outlier_detection.timeline import Timeline
from lablib.notebook.exercise import Criterion, Exercise, Grade
from lablib.notebook.predict import Misconception, Question, Verdict, compare

__all__ = [
    "EXERCISE",
    "MAX_DELAY_S",
    "PREDICTIONS",
    "diagnose",
    "effective_outlier",
    "ejection_delay",
    "errors_at_ejection",
    "make_exercise",
    "return_after",
    "return_verdict",
    "seed_errors_verdict",
]

#: The rule the answer box starts from, and the reference solution (files beside this module, so that the
#: table of the labs can give CI the solution as a parameter without importing the notebook kit).
START = (Path(__file__).parent / "exercise-start.yaml").read_text(encoding="utf-8")
SOLUTION = (Path(__file__).parent / "exercise-solution.yaml").read_text(encoding="utf-8")
#: the same answer with its comments in Chinese (the zh edition's solution box)
SOLUTION_ZH = (Path(__file__).parent / "exercise-solution.zh.yaml").read_text(encoding="utf-8")

PREDICTIONS: dict[str, Question] = {
    "return_s": Question(
        "return_s", lambda lang, **v: t("predict.lab02.return_s.question", lang, **v), unit="s", high=3600.0,
        tolerance=1.5,
        misconceptions=(Misconception(
            "returns_when_healed", lambda lang, **v: t("predict.lab02.return_s.when_healed", lang, **v),
            # back "once healed": about 2 s after the ejection, well before baseEjectionTime
            lambda p, theory, m: float(p) < float(m) / 2),)),
    "seed_errors": Question(
        "seed_errors", lambda lang, **v: t("predict.lab02.seed_errors.question", lang, **v), high=1000.0,
        tolerance=1.0,
        misconceptions=(Misconception(
            "seed_field_counts", lambda lang, **v: t("predict.lab02.seed_errors.seed_counts", lang, **v),
            lambda p, theory, m: round(float(p)) == 3 and float(m) >= 4.5),)),
}


def return_after(tl: Timeline, address: str | None = None) -> float | None:
    """Seconds the first ejected host stayed out (None: not ejected, or not back when sampling stopped)."""
    periods = [p for p in tl.periods(address=address) if p.end is not None]
    return periods[0].duration if periods else None


def errors_at_ejection(tl: Timeline) -> int | None:
    """Errors the first ejected host had answered when it was ejected (None: no ejection, or not counted)."""
    events = tl.events("ejected")
    return tl.errors_before_ejection(events[0]) if events else None


def return_verdict(guess: Any, story: Timeline, settings: OutlierSettings, *, lang: str = "en") -> Verdict:
    """The return-time prediction next to theory (baseEjectionTime, up to one interval late) and Step 4."""
    theory = (settings.base_ejection_time_s, settings.base_ejection_time_s + settings.interval_s)
    return compare(guess, theory, return_after(story), lang=lang)


def seed_errors_verdict(guess: Any, seed_run: Timeline, *, lang: str = "en") -> Verdict:
    """The seed-errors prediction next to theory (Envoy's default: the seed's field never reaches it) and
    Step 6's run."""
    return compare(guess, ENVOY_DEFAULTS["consecutive_5xx"], errors_at_ejection(seed_run), lang=lang)


# -- the exercise --------------------------------------------------------------------------------------------
#: The goal: ejected within this many seconds of the first error; never both pods out.
MAX_DELAY_S = 2.0
V1_FAILS_AT_S, V2_FAILS_AT_S, DURATION_S, QPS = 0.5, 3.0, 6.0, 40.0
#: Envoy's own defaults where the cluster's outlier_detection leaves a field out (outlier_detection.proto).
ENVOY_DEFAULTS = {"consecutive_5xx": 5, "enforcing_consecutive_5xx": 100, "max_ejection_percent": 10,
                  "consecutive_gateway_failure": 5, "enforcing_consecutive_gateway_failure": 0}


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).replace("5xx", "_5xx").replace(
        "__", "_")


def effective_outlier(proxy_config: str, cluster: str = DEFAULT_CLUSTER) -> dict[str, int] | None:
    """The outlier detection Envoy runs for ``cluster`` (its defaults filled in; None: none at all), from the
    client sidecar's config (``lab.proxy_config("cluster")``, snake_case or camelCase)."""
    dump = _yamlio.load(proxy_config)
    if isinstance(dump, dict):
        dump = dump.get("clusters") or dump.get("items") or [dump]
    found = next((c for c in dump or [] if isinstance(c, dict) and c.get("name") == cluster), None)
    if found is None:
        return None
    raw = found.get("outlier_detection", found.get("outlierDetection"))
    if raw is None:
        return None
    given = {_snake(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}
    return {k: int(given.get(k, default)) for k, default in ENVOY_DEFAULTS.items()}


def diagnose(outlier: Mapping[str, int] | None, delay_s: float | None, max_out: int, *,
             hosts: int = 2) -> tuple[str | None, dict[str, Any]]:
    """The wrong idea a run shows (a hint key; None: goal met) and the numbers its hint needs. Pure:
    ``outlier`` is Envoy's effective outlier detection, ``delay_s`` the time from v1's first error to its
    ejection (None: never ejected), ``max_out`` the most pods out at once."""
    values: dict[str, Any] = {"hosts": hosts, "goal": MAX_DELAY_S}
    if outlier is None:
        return ("no_detection", values) if delay_s is None or delay_s > MAX_DELAY_S else (
            None if max_out <= 1 else "other", values)
    percent, count = outlier["max_ejection_percent"], outlier["consecutive_5xx"]
    calls_per_s = QPS / hosts  # the failing pod's share of the paced load
    values.update(percent=percent, n=count, seconds=count / calls_per_s, calls=calls_per_s)
    if max_out > 1:
        return "percent_too_high", values
    if delay_s is None or delay_s > MAX_DELAY_S:
        if 100 * 1 / hosts > percent:
            return "percent_too_low", values
        if outlier["enforcing_consecutive_5xx"] == 0 or count == 0:
            return "counting_off", values
        if count / calls_per_s > MAX_DELAY_S:
            return "threshold_too_high", values
        return "other", values
    return None, values


def ejection_delay(tl: Timeline, address: str) -> float | None:
    """Seconds from ``address``'s first error (its ``rq_error`` growing) to its ejection; None if never
    ejected. Without per-host counts, the fault's own mark stands for the first error."""
    ejected = tl.events("ejected", address=address)
    if not ejected:
        return None
    series = tl.host_series(address)
    first = next((s.t for s in series if series and s.stats.get("rq_error", 0) > series[0].stats.get(
        "rq_error", 0)), None)
    if first is None:
        first = min((m.t for m in tl.marks), default=V1_FAILS_AT_S)
    return max(0.0, ejected[0].t - first)


def _grade(lab: Any, rule: Path, lang: str) -> Grade:
    heal(lab)
    lab.delete(rule)  # Envoy rebuilds the cluster: no ejection or error count carries over from a try before
    lab.apply(rule)
    names = host_names(lab)
    v1 = next((a for a, n in names.items() if n.startswith("service-go-v1")), None)
    actions = [Action(V1_FAILS_AT_S, "v1: 503", lambda: lab.set_fault("service-go-v1", code=503)),
               Action(V2_FAILS_AT_S, "v2: 503", lambda: lab.set_fault("service-go-v2", code=503))]
    try:
        tl = watch(lab, duration_s=DURATION_S, qps=QPS, actions=actions)
    finally:
        heal(lab)
    address = v1 or next(iter(tl.addresses()), "")
    delay = ejection_delay(tl, address)
    max_out = tl.max_in_pool_out(DEFAULT_CLUSTER)
    hint, values = diagnose(effective_outlier(lab.proxy_config("cluster")), delay, max_out)
    ejected = (t("exercise.lab02.crit.ejected", lang, delay=delay, goal=MAX_DELAY_S) if delay is not None
               else t("exercise.lab02.crit.never", lang, seconds=DURATION_S))
    criteria = (Criterion(delay is not None and delay <= MAX_DELAY_S, ejected),
                Criterion(max_out <= 1, t("exercise.lab02.crit.both", lang, out=max_out)))
    return Grade(criteria, hint if not all(c.ok for c in criteria) else None, values)


EXERCISE = Exercise(
    "lab02", lambda lang: t("exercise.lab02.title", lang), lambda lang: t("exercise.lab02.goal", lang),
    START, SOLUTION, _grade, solutions={"zh": SOLUTION_ZH},
    hints={
        "percent_too_high": (lambda lang, **v: t("exercise.lab02.hint.too_high.1", lang, **v),
                             lambda lang, **v: t("exercise.lab02.hint.percent.2", lang, **v),
                             lambda lang, **v: t("exercise.lab02.hint.percent.3", lang, **v)),
        "percent_too_low": (lambda lang, **v: t("exercise.lab02.hint.too_low.1", lang, **v),
                            lambda lang, **v: t("exercise.lab02.hint.percent.2", lang, **v),
                            lambda lang, **v: t("exercise.lab02.hint.percent.3", lang, **v)),
        "threshold_too_high": (lambda lang, **v: t("exercise.lab02.hint.threshold.1", lang, **v),
                               lambda lang, **v: t("exercise.lab02.hint.threshold.2", lang, **v),
                               lambda lang, **v: t("exercise.lab02.hint.threshold.3", lang, **v)),
        "counting_off": (lambda lang, **v: t("exercise.lab02.hint.off.1", lang, **v),
                         lambda lang, **v: t("exercise.lab02.hint.threshold.3", lang, **v)),
        "no_detection": (lambda lang, **v: t("exercise.lab02.hint.none.1", lang, **v),
                         lambda lang, **v: t("exercise.lab02.hint.none.2", lang, **v)),
        "other": (lambda lang, **v: t("exercise.lab02.hint.other.1", lang, **v),),
    })


def make_exercise(workers: int | None = None) -> Exercise:
    """Lab 02's exercise (``workers`` is accepted like the other labs' and does not change it)."""
    return EXERCISE
