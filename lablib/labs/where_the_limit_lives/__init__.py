"""Lab 03, where the limit lives: per Envoy cluster, per client proxy, per worker.

    use_route(lab, "50-50")                       the route (none / 50-50 / 90-10) as a VirtualService
    run_route(lab, label, c)                      one client's run, its counters per Envoy cluster
    start_clients(lab, 2, directory=…)            fortio, fortio-2, … : each caller its own client sidecar
    run_clients(lab, pods, c)                     every client at once; server sidecars' counters and peaks
    worker_clients(lab, [1, 4], directory=…)      client pods fortio-w1 and fortio-w4 (1 and 4 workers)
    worker_rule(directory)                        10 connections + 10 waiting, requests unlimited
    route_limits(route, workers=2)                the theory's clusters, L and band for that route
    routes_sweep / clients_sweep / workers_sweep  the notebook's three steps, with progress

The runs are ``lablib.notebook.runs.RunPoint`` subclasses, so lab 01's plots and tables read them too.
"""

from lablib.labs.where_the_limit_lives.exercise import PREDICTIONS, make_exercise, verdicts
from lablib.labs.where_the_limit_lives.experiment import (
    COUNTERS,
    ClientsRun,
    LimitPoint,
    measure,
    run_clients,
    run_route,
)
from lablib.labs.where_the_limit_lives.mesh import (
    ROUTES,
    RULE,
    WORKER_POD,
    client_names,
    route_limits,
    rule_without_ejection,
    start_clients,
    use_route,
    worker_client,
    worker_clients,
    worker_pod,
    worker_rule,
)
from lablib.labs.where_the_limit_lives.sweeps import clients_sweep, routes_sweep, workers_sweep

__all__ = [
    "COUNTERS",
    "PREDICTIONS",
    "ROUTES",
    "RULE",
    "WORKER_POD",
    "ClientsRun",
    "LimitPoint",
    "client_names",
    "clients_sweep",
    "make_exercise",
    "measure",
    "route_limits",
    "routes_sweep",
    "rule_without_ejection",
    "run_clients",
    "run_route",
    "start_clients",
    "use_route",
    "verdicts",
    "worker_client",
    "worker_clients",
    "worker_pod",
    "worker_rule",
    "workers_sweep",
]
