"""Lab 02, outlier detection: eject a failing service-go instance and watch it come back.

``experiment()`` heals the pods, applies a fresh DestinationRule from ``OutlierSettings``, turns
service-go faults on and runs ``watch()``: paced load while an ``Observer`` samples the client sidecar's
``/clusters`` and ``/stats``. The resulting ``Timeline`` feeds ``timeline_figure()`` and the check cells
in ``lablib.labs.outlier_detection.checks``; ``Explorer`` puts the knobs on sliders.
Check cells, figures, tables and the explorer take ``lang`` (``"en"`` or ``"zh"``; ``lablib.i18n``).
Taught in ``labs/02-outlier-detection.ipynb``.
"""

from lablib.labs.outlier_detection import checks
from lablib.labs.outlier_detection.exercise import (
    PREDICTIONS,
    make_exercise,
    return_verdict,
    seed_errors_verdict,
)
from lablib.labs.outlier_detection.experiment import (
    MANIFESTS,
    PODS,
    Fault,
    experiment,
    heal,
    host_names,
    processes,
    stop_after,
)
from lablib.labs.outlier_detection.observer import (
    DEFAULT_CLUSTER,
    DEFAULT_URL,
    Action,
    LoadRunner,
    Observer,
    ret_codes,
    watch,
)
from lablib.labs.outlier_detection.plots import CODE_COLORS, timeline_figure
from lablib.labs.outlier_detection.rule import (
    LAB,
    SEED,
    OutlierSettings,
    destination_rule,
    effective_envoy,
    virtual_service,
    write_rule,
    write_virtual_service,
)
from lablib.labs.outlier_detection.tables import HTMLTable, envoy_view, event_table, mapping_table
from lablib.labs.outlier_detection.timeline import (
    CodeSample,
    Event,
    HostSample,
    Mark,
    Period,
    StatSample,
    Timeline,
)
from lablib.labs.outlier_detection.widgets import Explorer, longest_failure_run

__all__ = [
    "CODE_COLORS",
    "DEFAULT_CLUSTER",
    "DEFAULT_URL",
    "LAB",
    "MANIFESTS",
    "PODS",
    "PREDICTIONS",
    "SEED",
    "Action",
    "CodeSample",
    "Event",
    "Explorer",
    "Fault",
    "HTMLTable",
    "HostSample",
    "LoadRunner",
    "Mark",
    "Observer",
    "OutlierSettings",
    "Period",
    "StatSample",
    "Timeline",
    "checks",
    "destination_rule",
    "effective_envoy",
    "envoy_view",
    "event_table",
    "experiment",
    "heal",
    "host_names",
    "longest_failure_run",
    "make_exercise",
    "mapping_table",
    "processes",
    "ret_codes",
    "return_verdict",
    "seed_errors_verdict",
    "stop_after",
    "timeline_figure",
    "virtual_service",
    "watch",
    "write_rule",
    "write_virtual_service",
]
