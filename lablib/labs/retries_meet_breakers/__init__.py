"""Lab 05, retries meet breakers: how a retry policy multiplies the load, and what limits it.

    mesh.v1_only(work) / mesh.with_v2(work)     service-go v1 alone, then v2 beside it (Step 6)
    mesh.use_route(lab, work, attempts=2, …)    the book's route with retries and a timeout
    mesh.use_rule(lab, work, max_retries=…)     the rule with the retry breakers (maxRetries, retryBudget)
    steps.baseline / attempts_sweep / breaker_sweep / budget_sweep / timeouts / never_retried
                                                the notebook's measured steps, each a RetryRun or several
    theory.amplification(p, n)                  1 + p + … + pⁿ requests per call; failed_share: pⁿ⁺¹
    plots, checks, exercise (predictions), widgets.RetryExplorer

A ``RetryRun`` (``experiment``) keeps what the client saw and its sidecar's retry counters next to what
reached service-go (the server sidecars' inbound counters).
"""

from lablib.labs.retries_meet_breakers import mesh, steps, theory
from lablib.labs.retries_meet_breakers.exercise import PREDICTIONS
from lablib.labs.retries_meet_breakers.experiment import (
    RETRY_COUNTERS,
    TIMEOUT_COUNTERS,
    RetryRun,
    measure,
    measure_many,
)
from lablib.labs.retries_meet_breakers.steps import (
    attempts_sweep,
    baseline,
    breaker_sweep,
    budget_sweep,
    never_retried,
    pod_addresses,
    route_policy,
    timeouts,
)

__all__ = [
    "PREDICTIONS",
    "RETRY_COUNTERS",
    "TIMEOUT_COUNTERS",
    "RetryRun",
    "attempts_sweep",
    "baseline",
    "breaker_sweep",
    "budget_sweep",
    "measure",
    "measure_many",
    "mesh",
    "never_retried",
    "pod_addresses",
    "route_policy",
    "steps",
    "theory",
    "timeouts",
]
