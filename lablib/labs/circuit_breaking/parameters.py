"""Lab 01's parameters cell, typed (``lablib.notebook.parameters.read(globals(), lab="01")``)."""

from lablib.labs.circuit_breaking.exercise import COUNTERS
from lablib.notebook.parameters import BACKEND, LANG, Flag, Int, IntList, Number, OneOf, Optional, Param, Text

PARAMETERS: dict[str, Param] = {
    "backend": BACKEND,
    "concurrency": IntList(low=1),
    "calls_per_thread": Int(low=1),
    "repeats": Int(low=1),
    "workers": Int(low=1),
    "persist": Flag(),
    "lang": LANG,
    # predictions (None: the student types them in the widget, or skips) and the exercise's answer
    "predict_seed_share": Optional(Number(low=0, high=100, unit="%")),
    "predict_pending_share": Optional(Number(low=0, high=100, unit="%")),
    "predict_counter": Optional(OneOf(choices=COUNTERS)),
    "exercise_lab01": Optional(Text()),
}
