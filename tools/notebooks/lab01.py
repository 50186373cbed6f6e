"""The cells of ``labs/01-circuit-breaking.ipynb``: ``("md", text)`` or ``("code", text[, tags])``."""

from __future__ import annotations

CELLS: list[tuple] = [
    (
        "md",
        """\
# Circuit breaking: the book's experiment on real Envoy

A **circuit breaker** in Istio is two things in one `DestinationRule`, both enforced by the *client's*
sidecar (the Envoy next to the caller):

* **`connectionPool`** caps how much one client proxy may send to a service at once: `tcp.maxConnections`
  connections, `http.http2MaxRequests` requests in flight, `http.http1MaxPendingRequests` requests waiting
  for a connection, `http.maxRequestsPerConnection` requests per keep-alive connection. Above a cap, Envoy
  answers at once with **503** (response flag `UO`, *upstream overflow*) instead of passing the request on.
* **`outlierDetection`** watches each backend instance and **ejects** one from the load-balancing pool after
  consecutive errors, for `baseEjectionTime`; when no healthy instance is left, callers get 503 at once: the
  service is "tripped". After the ejection time the instance comes back and is watched again.

This lab replays the book's experiment (《Istio 入门与实战》, circuit breaking) step by step: fortio calls
`service-go` (pods v1 and v2) through its sidecar, at growing concurrency, under the book's rule. Each step
has a **check** cell that says whether it worked. We then explain every 503 with Envoy's own counters,
compare our numbers with the book's, and let you move the knobs yourself.

The embedded backend runs **real Envoy 1.40 processes** on 127.0.0.1, configured exactly as Istio configures
the sidecars (same cluster names, same circuit-breaker fields); `backend="kind"` runs the same cells on a kind
cluster with Istio.""",
    ),
    (
        "md",
        """\
**Parameters.** CI runs a small version of this notebook by overriding this cell (papermill). `concurrency`
is fortio's `-c` for Step 4 (the book ran 20, 30 and 40), each run makes `calls_per_thread × c` calls like the
book's `-n`, and each concurrency runs `repeats` times because the percentages vary run to run.""",
    ),
    (
        "code",
        """\
backend = "embedded"  # "embedded": real Envoys on 127.0.0.1; "kind": a kind cluster with Istio
concurrency = [10, 20, 30, 40, 60]  # fortio -c values for Step 4
calls_per_thread = 10  # fortio -n = 10 × c, as in the book
repeats = 3  # runs per concurrency
workers = 2  # Envoy worker threads in the fortio sidecar (--concurrency)
persist = False  # True: the lab outlives this kernel and a restarted kernel re-attaches (until cleanup)""",
        ["parameters"],
    ),
    (
        "code",
        """\
import lablib.viz as viz
from lablib.lab import Lab

M = viz.MANIFESTS  # the book's repository layout: kubernetes/, service/go/, istio/...
CLUSTER = "outbound|80||service-go.default.svc.cluster.local"  # the Envoy cluster the route uses""",
    ),
    (
        "md",
        """\
## Step 1: start fortio

The book starts a `fortio` pod (`kubectl apply -f kubernetes/fortio.yaml`); `service-go` (a Service and two
Deployments, `version: v1` and `version: v2`) was deployed in an earlier chapter, so we apply it too. In the
embedded lab each pod is a process behind its own Envoy sidecar; fortio's sidecar is the client proxy whose
circuit breakers we will watch.

The embedded lab belongs to this kernel: it stops when the kernel stops, and the next `Lab()` removes anything
a crashed kernel left behind. Like a kind cluster, it can also outlive the kernel (`persist = True` above):
then a restarted kernel re-attaches to the running lab, and the cleanup cell (or `python -m lablib cleanup`
in a terminal) stops it. Either way a terminal's `python -m lablib stats` acts on this same lab.""",
    ),
    (
        "code",
        """\
lab = Lab(backend=backend, workers=workers, persist=persist)
lab.apply(M / "service/go/service-go.yaml", progress=viz.progress_bar("service-go"))
lab.apply(M / "kubernetes/fortio.yaml", progress=viz.progress_bar("fortio"))""",
    ),
    ("md", "**Check:** fortio's sidecar sees both service-go pods, healthy."),
    ("code", """viz.checks.pods_up(lab.hosts(CLUSTER), expected=2)"""),
    (
        "md",
        """\
## Step 2: the route rule

`istio/route/virtual-service-go.yaml` sends every request for `service-go` to host `service-go`, with no
subset and no weight. So fortio's sidecar uses **one** Envoy cluster,
`outbound|80||service-go.default.svc.cluster.local`, whose endpoints are both pods. A few calls, like the
book's `fortio load -curl http://service-go/env`:""",
    ),
    (
        "code",
        """\
lab.apply(M / "istio/route/virtual-service-go.yaml")
first = lab.fortio("load -c 1 -qps 0 -n 5 -loglevel Error http://service-go/env")
viz.checks.route_works(first)""",
    ),
    (
        "md",
        """\
## Step 3: the breaker rule

The book's `DestinationRule` (left) and what it becomes in fortio's sidecar (right, like `istioctl
proxy-config cluster fortio -o yaml`): `maxConnections` → `circuitBreakers.thresholds[0].maxConnections`,
`http2MaxRequests` → `maxRequests`, `maxRequestsPerConnection` → `maxRequestsPerConnection` of the HTTP
protocol options, and, because the rule does not set it, `maxPendingRequests: 4294967295` (unlimited). The
`outlierDetection` block becomes `outlierDetection` (its `consecutiveErrors` is ignored since Istio 1.7).""",
    ),
    (
        "code",
        """\
SEED_DR = M / "istio/resilience/destination-rule-go-cb.yaml"
lab.apply(SEED_DR)
viz.side_by_side(SEED_DR.read_text(), viz.cluster_yaml(lab.proxy_config("cluster"), CLUSTER))""",
    ),
    ("md", "**Check:** the thresholds reached the client sidecar's cluster."),
    (
        "code",
        """\
want = {"max_connections": 10, "max_requests": 10, "max_pending_requests": 2**32 - 1}  # 2^32-1: unset
viz.checks.breaker_applied(lab.proxy_config("cluster"), cluster=CLUSTER, expect=want)""",
    ),
    (
        "md",
        """\
What theory expects from this rule for the route's cluster: on HTTP/1.1 a connection carries one request at
a time, so 10 connections means 10 requests in flight, and everything above **waits** in a pending queue that
the seed's rule leaves unlimited. The book's repository has `http1MaxPendingRequests: 10` in the same file;
with it the cluster admits **L = 10 in flight + 10 waiting = 20**. We run both.""",
    ),
    (
        "code",
        """\
PENDING_DR = M / "istio/resilience/destination-rule-go-cb-pending.yaml"
base = [M / "service/go/service-go.yaml", M / "istio/route/virtual-service-go.yaml"]
rules = {"seed's rule": SEED_DR, "+ http1MaxPendingRequests: 10": PENDING_DR}
viz.limits_table({rule: viz.limits_for_files([*base, f], workers=workers) for rule, f in rules.items()})""",
    ),
    (
        "md",
        """\
## Step 4: load at growing concurrency

The book runs `fortio load -c C -qps 0 -n 10·C -loglevel Error http://service-go/env` for C = 20, 30, 40.
`-qps 0` makes each of the C threads call again as soon as its previous call returns (a closed loop). Before
each run we reset the sidecar's counters, so we can read which breaker counter each 503 came from.

First the seed's rule as printed (no pending limit):""",
    ),
    (
        "code",
        """\
seed = viz.sweep(lab, "seed's rule", concurrency, cluster=CLUSTER, repeats=repeats,
                 calls_per_thread=calls_per_thread, progress=viz.progress_bar("seed's rule"))""",
    ),
    ("md", "Then the same rule with `http1MaxPendingRequests: 10`, as in the book's repository:"),
    (
        "code",
        """\
lab.apply(PENDING_DR)
pending = viz.sweep(lab, "+ http1MaxPendingRequests: 10", concurrency, cluster=CLUSTER, repeats=repeats,
                    calls_per_thread=calls_per_thread, progress=viz.progress_bar("pending 10"))""",
    ),
    (
        "md",
        """\
**The book's numbers next to ours.** Each of our cells is the mean 503 share over the repeats, with the lowest
and highest run; the last column is the fast-rejection bound 1 − L/c for L = 20 (rejected threads burn their
calls as instant 503s while the admitted ones finish theirs).""",
    ),
    (
        "code",
        """\
limits = viz.limits_for_files([*base, PENDING_DR], workers=workers)
theory = viz.overlay(limits, label="pending 10", **viz.timings(pending))
viz.comparison_table(viz.book_points(), seed + pending, bound=lambda c: max(0.0, 1 - theory.limit / c))""",
    ),
    (
        "md",
        """\
**503 share vs concurrency.** Dots are our runs (one per repeat), diamonds the book's. The dashed line is L,
the shaded band what real Envoy may admit around it (per-worker connection pools add slack), the solid curve
the fast-rejection bound and the dotted curve a simulation of fortio's threads against the breaker.""",
    ),
    ("code", """viz.share_figure(viz.book_points() + seed + pending, theory)"""),
    ("md", "**Check:** with the pending limit, 503s appear well above L and none well below it."),
    ("code", """viz.checks.breaker_trips(pending, theory.limit)"""),
    (
        "md",
        """\
**Latency percentiles.** With the seed's rule the excess waits, so latency grows with concurrency; with the
pending limit the excess is rejected in about a millisecond, so the low percentiles fall (fast 503s) while
the admitted requests still wait behind up to 10 others.""",
    ),
    ("code", """viz.latency_figure(seed + pending)"""),
    (
        "md",
        """\
**Requests inside the breaker.** Little's law on the 200s (λ = 200s per second, W = mean latency of a 200)
gives the average number of admitted requests, active + waiting. Without a pending limit it grows with c
(less the time fortio's threads spend outside Envoy); with it, it stays at or below L.""",
    ),
    ("code", """viz.admitted_figure(seed + pending, theory)"""),
    (
        "md",
        """\
**What tripped.** For every run, fortio's 503 count next to the client sidecar's counters:
`upstream_rq_pending_overflow` (the pending queue was full) and `upstream_rq_active_overflow` (`max_requests`
was reached when a request got a connection) both answer 503 UO; `upstream_cx_overflow` (no new connection)
only makes the request wait.""",
    ),
    (
        "code",
        """\
display(viz.counters_figure(seed + pending))
viz.checks.every_503_explained(seed + pending)""",
    ),
    ("md", "### What the runs showed, and why"),
    ("code", """viz.why_queueing(seed, pending)"""),
    (
        "code",
        """\
viz.why_per_cluster(limits[0], hosts=lab.hosts(CLUSTER), admitted=pending)""",
    ),
    (
        "code",
        """\
route = limits[0]  # the one cluster the route uses
viz.why_more_than_limit(pending, seed=seed, limit=theory.limit, max_connections=int(route.max_connections),
                        workers=workers, hosts=route.endpoints)""",
    ),
    ("code", """viz.why_sockets(seed + pending)"""),
    ("code", """viz.why_varies(seed + pending)"""),
    (
        "md",
        """\
### Explore

Move the sliders, then press **Run**: nothing runs while you drag. The DR knobs redraw the theory at once;
Run applies a `DestinationRule` generated from them (validated like a file you wrote), runs fortio once and
adds the point to the plot. Try `http1MaxPendingRequests` 0 (unset) against 10, `maxConnections` 1, or the
h2 upgrade (HTTP/2 multiplexes: only `http2MaxRequests` limits requests, the excess is rejected at once).""",
    ),
    (
        "code",
        """\
explorer = viz.BreakerExplorer(lab, theory_for=viz.knob_theory([*base, PENDING_DR], workers=workers),
                               knobs=viz.BreakerKnobs(http1_max_pending_requests=10), points=pending,
                               cluster=CLUSTER, applied=viz.BreakerKnobs(http1_max_pending_requests=10))
explorer""",
    ),
    (
        "md",
        """\
## Step 5: cleanup

The book deletes its three objects by hand. `lab.cleanup()` deletes everything this lab applied and stops
every process it started (Envoys and service-go); the check looks for any left.""",
    ),
    (
        "code",
        """\
lab.cleanup()
viz.checks.cleaned_up()""",
    ),
]
