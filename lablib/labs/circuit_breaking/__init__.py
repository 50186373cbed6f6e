"""Lab 01, ``labs/01-circuit-breaking.ipynb``: the book's experiment, explained.

The DestinationRule's knobs as a value (``BreakerKnobs``), the theory if the rule had them (``knob_theory``),
the explanations of what the runs showed (``why_*``), the explorer (``BreakerExplorer``: sliders, Run, a
live plot), the predictions asked before the runs (``PREDICTIONS``, ``verdicts``) and the exercise
(``make_exercise``: the student's own rule, graded on real Envoy). Runs, checks, tables and plots come
from the notebook kit, ``lablib.notebook``.
"""

from lablib.labs.circuit_breaking.exercise import PREDICTIONS, make_exercise, verdicts
from lablib.labs.circuit_breaking.explain import (
    why_more_than_limit,
    why_per_cluster,
    why_queueing,
    why_sockets,
    why_varies,
)
from lablib.labs.circuit_breaking.explorer import BreakerExplorer
from lablib.labs.circuit_breaking.knobs import (
    SEED_KNOBS,
    BreakerKnobs,
    destination_rule,
    knob_limits,
    knob_theory,
    write_destination_rule,
)

__all__ = [
    "PREDICTIONS",
    "SEED_KNOBS",
    "BreakerExplorer",
    "BreakerKnobs",
    "destination_rule",
    "knob_limits",
    "knob_theory",
    "make_exercise",
    "verdicts",
    "why_more_than_limit",
    "why_per_cluster",
    "why_queueing",
    "why_sockets",
    "why_varies",
    "write_destination_rule",
]
