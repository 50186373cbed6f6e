"""Lab 03's runs: one route at a time, several client pods at once, one client at several Envoy worker counts.

The measurement itself (reset the counters, run fortio from each client pod at once, read every outbound
cluster's counters, the server sidecars' ``inbound|80||`` counters and their sampled peaks) is the kit's,
``lablib.notebook.clients``, which lab 06 uses too; lab 03's notebook, explorer and tests measure through
these names.
"""

from __future__ import annotations

from lablib.notebook.clients import (
    COUNTERS,
    ClientsRun,
    LimitPoint,
    cluster_counters,
    measure,
    run_clients,
    run_route,
)

__all__ = ["COUNTERS", "ClientsRun", "LimitPoint", "cluster_counters", "measure", "run_clients",
           "run_route"]
