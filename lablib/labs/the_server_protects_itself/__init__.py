"""Lab 06, the server protects itself: a limit of the server's own (``Sidecar``), and reading the breaker.

    client_rule(directory)                         each client sidecar: 10 in flight + 10 waiting
    apply_server_limit(lab, 15, directory=…)       the server's own limit, a Sidecar's inboundConnectionPool
    server_sweep(lab, [1, 2, 3], [15, …], 20, …)   1, 2, 3 client pods at once under each server setting
    protocols.h2_runs(lab, 20, …)                  Step 2: three rules on an HTTP/2 service, cold then warm
    protocols.grpc_runs(lab, 20, …)                Step 3: the same cap on a gRPC service (UNAVAILABLE)
    inbound_view(lab) / breaker_stats(lab)         Step 4: what istioctl and the sidecar's stats show
"""

from lablib.labs.the_server_protects_itself import mesh
from lablib.labs.the_server_protects_itself.experiment import (
    DR_ONLY,
    OutlierRun,
    ServerRun,
    apply_server_limit,
    outlier_run,
    run_servers,
    server_sweep,
)
from lablib.labs.the_server_protects_itself.mesh import (
    CLIENT_LIMIT,
    OUTLIER,
    SERVER,
    SERVER_POD,
    UNLIMITED,
    client_rule,
    server_sidecar,
)
from lablib.notebook.clients import client_names, start_clients

__all__ = [
    "CLIENT_LIMIT",
    "DR_ONLY",
    "OUTLIER",
    "SERVER",
    "SERVER_POD",
    "UNLIMITED",
    "OutlierRun",
    "ServerRun",
    "apply_server_limit",
    "client_names",
    "client_rule",
    "mesh",
    "outlier_run",
    "run_servers",
    "server_sidecar",
    "server_sweep",
    "start_clients",
]
