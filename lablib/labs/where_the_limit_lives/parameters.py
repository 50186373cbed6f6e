"""Lab 03's parameters cell, typed (``lablib.notebook.parameters.read(globals(), lab="03")``)."""

from lablib.labs.where_the_limit_lives.mesh import ROUTES
from lablib.notebook.parameters import BACKEND, LANG, Flag, Int, IntList, OneOf, Optional, Param, Text

PARAMETERS: dict[str, Param] = {
    "backend": BACKEND,
    "concurrency": IntList(low=1),
    "calls_per_thread": Int(low=1),
    "repeats": Int(low=1),
    "client_counts": IntList(low=1),
    "client_concurrency": Int(low=1),
    "worker_counts": IntList(low=1),
    "worker_concurrency": Int(low=1),
    "worker_repeats": Int(low=1),
    "workers": Int(low=1),
    "run_explorer": Flag(),
    "lang": LANG,
    "predict_fewest_503": Optional(OneOf(choices=tuple(ROUTES))),
    "predict_first_subset": Optional(OneOf(choices=("v1", "v2"))),
    "exercise_lab03": Optional(Text()),
}
