"""Lab 02's parameters cell, typed (``lablib.notebook.parameters.read(globals(), lab="02")``)."""

from lablib.notebook.parameters import BACKEND, LANG, Duration, Flag, Int, Number, Optional, Param, Text

PARAMETERS: dict[str, Param] = {
    "backend": BACKEND,
    "base_ejection_time": Duration(),
    "interval": Duration(),
    "consecutive_5xx_errors": Int(low=1),
    "fault_code": Int(low=500, high=599),
    "grow_base": Duration(),
    "qps": Number(low=1),
    "run_explorer": Flag(),
    "lang": LANG,
    "predict_return_s": Optional(Number(low=0, unit="s")),
    "predict_seed_errors": Optional(Int(low=0)),
    "exercise_lab02": Optional(Text()),
}
