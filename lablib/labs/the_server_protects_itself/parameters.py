"""Lab 06's parameters cell, typed (``lablib.notebook.parameters.read(globals(), lab="06")``)."""

from lablib.labs.the_server_protects_itself.predictions import GRPC_STATUSES
from lablib.notebook.parameters import BACKEND, LANG, Flag, Int, IntList, Number, OneOf, Optional, Param

PARAMETERS: dict[str, Param] = {
    "backend": BACKEND,
    "client_counts": IntList(low=1),
    "concurrency": Int(low=1),
    "calls_per_thread": Int(low=1),
    "server_limit": Int(low=1),
    "service_time_ms": Int(low=1),
    "warm_runs": Int(low=1),
    "run_explorer": Flag(),
    "lang": LANG,
    "predict_server_peak": Optional(Int(low=0)),
    "predict_h2_share": Optional(Number(low=0, high=100)),
    "predict_grpc_status": Optional(OneOf(choices=GRPC_STATUSES)),
}
