"""The embedded mesh: the seed's experiment on real Envoy sidecars, without Docker or kind.

Topology, as Istio builds it:

* the **fortio pod** is the lab's client: it has a client sidecar Envoy whose outbound listener (one per
  service port, ``0.0.0.0_80``) routes by Host header (``service-go``,
  ``service-go.default.svc.cluster.local``) to
  the
  ``outbound|80|<subset>|…`` clusters that ``lablib.translate`` builds from the Services, DestinationRules and
  VirtualServices. ``lab.fortio(…)`` runs the load generator in this process and connects to that listener,
  the way Istio's iptables redirect would, keeping the URL's Host header;
* every pod a Deployment (``replicas`` of them) or Pod makes is a ``python -m lablib.service_go`` process
  plus its own inbound sidecar Envoy (``inbound|80||`` with the DestinationRule's connectionPool, as Istio
  applies it server-side); pod labels (``version: v1``) select subsets.

Live configuration: every sidecar reads CDS/LDS (and the client RDS) from files (``path_config_source``);
``apply``/``delete`` rewrite them by atomic rename and Envoy reloads them without a restart, like an istiod
push. An apply is all or nothing across every sidecar (``lablib.envoy.xds.push_all``): each push is confirmed
against what the live Envoy runs, and if any sidecar rejects anything, every sidecar goes back to the previous
config and ``EnvoyError`` says who rejected what at which ``FILE:LINE``. Pods come and go with their
Deployments; a pod found dead is named by the next command and recreated by the next ``apply``. Sidecars run
``workers`` (default 2, Istio's default) worker threads; their admin endpoints are owner-only Unix sockets.

Lifetime. A lab's state (pids + start times, ports, applied objects, config dir, logs) lives in
``$LABLIB_HOME/<name>/`` (default ``~/.cache/lablib/default``), changed under a lock; every process runs in
its own process group.

* ``MeshBackend()`` (what a notebook's ``Lab()`` makes) attaches to a running lab of that name if there is
  one, else starts one **owned** by this process: stopped by ``close()``, at interpreter exit, or by
  ``cleanup()``; on Linux its processes also die with the owner (``PR_SET_PDEATHSIG``), and a killed owner's
  leftovers are reaped by the next ``MeshBackend()`` (it sees the owner's pid + start time is gone).
* ``MeshBackend(persist=True)`` (what the CLI uses) starts a **persistent** lab that lives until ``cleanup``;
  a restarted kernel re-attaches to it. ``attach_only=True`` never starts one.
* ``cleanup()`` stops every process and removes the lab's files, whoever owns it. It is idempotent.
"""

from lablib.backends.mesh.backend import DEFAULT_SERVICE_TIME_MS, DEFAULT_WORKERS, MeshBackend, Run

__all__ = ["DEFAULT_SERVICE_TIME_MS", "DEFAULT_WORKERS", "MeshBackend", "Run"]
