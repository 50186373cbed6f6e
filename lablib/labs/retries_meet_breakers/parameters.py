"""Lab 05's parameters cell, typed (``lablib.notebook.parameters.read(globals(), lab="05")``)."""

from lablib.labs.retries_meet_breakers.exercise import COUNTERS, SERVER_503
from lablib.notebook.parameters import BACKEND, LANG, Flag, Int, IntList, Number, OneOf, Optional, Param

PARAMETERS: dict[str, Param] = {
    "backend": BACKEND,
    "fraction": Number(low=0, high=1),
    "attempts": IntList(low=0),
    "concurrency": Int(low=1),
    "calls": Int(low=1),
    "max_retries": Int(low=1),
    "retry_concurrency": IntList(low=1),
    "budget_percent": Number(low=0, high=100),
    "budget_concurrency": IntList(low=1),
    "calls_per_thread": Int(low=1),
    "delay_ms": Number(low=30, high=10_000),
    "workers": Int(low=1),
    "seed": Int(low=0),
    "run_explorer": Flag(),
    "lang": LANG,
    "predict_amplification": Optional(Number(low=1, high=10)),
    "predict_counter": Optional(OneOf(choices=COUNTERS)),
    "predict_server_503": Optional(OneOf(choices=SERVER_503)),
}
