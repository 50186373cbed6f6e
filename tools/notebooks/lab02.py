"""The cells of ``labs/02-outlier-detection.ipynb``: ``("md", text)`` or ``("code", text[, tags])``."""

from __future__ import annotations

CELLS: list[tuple] = [
    ("md", """\
# Outlier detection: ejecting a failing instance, watching it come back

The seed's `DestinationRule` has two halves. Lab 01 explored the first, `connectionPool`. This lab is about
the second one:

```yaml
    outlierDetection:
      consecutiveErrors: 3
      interval: 3s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
```

The book sums it up in one sentence: *a failing instance is removed from the load-balancing pool; when no
healthy instance is left, requests get an immediate 503; the instance comes back after its ejection time.*
The client's sidecar (the Envoy next to fortio) does all of this. It counts each upstream host's consecutive
errors, and once a host hits the threshold, Envoy marks it `/failed_outlier_check` and stops sending it
traffic.

The book's `service-go` never fails, so here we **make an instance fail** with service-go's fault knob
(`POST /fault {"code": 503, "fraction": 1.0}`) and watch, on real Envoy, the host go **out** of the pool
and come back **in**. The data comes from the sidecar's `/clusters` health flags and `outlier_detection.*`
stats, sampled about 10 times a second while fortio sends paced load. Each step ends with a **check** cell
that says whether the run showed what the text claims."""),
    ("md", """\
**Parameters.** CI runs a short version of this notebook by overriding this cell (papermill). The seed's
times (an ejection lasts 3 minutes, the detector sweeps every 3 s) would make each step take minutes. We keep
the seed's meaning and shorten the clock: `interval` 1 s, `baseEjectionTime` 15 s."""),
    ("code", """\
backend = "embedded"  # "embedded": real Envoys on 127.0.0.1; "kind": a kind cluster with Istio
base_ejection_time = "15s"  # the seed's 3m; interval below is the seed's 3s
interval = "1s"
consecutive_5xx_errors = 3  # what the seed meant by `consecutiveErrors: 3`
fault_code = 503  # what the failing pod answers (500 or 503)
grow_base = "5s"  # Step 8's baseEjectionTime (the second ejection lasts twice as long)
qps = 40  # paced load while we watch (fortio -qps)
run_explorer = True  # Step 11: run the sliders once with their start values""",
     ["parameters"]),
    ("code", """\
import shutil
import tempfile
from pathlib import Path

from lablib import outlier
from lablib.lab import Lab
from lablib.outlier import Fault, checks"""),
    ("code", """\
lab = Lab(backend=backend)
WORK = Path(tempfile.mkdtemp(prefix="lab02-"))  # the rules this notebook writes (removed at cleanup)
RULE, M = WORK / "destination-rule-go-outlier.yaml", outlier.MANIFESTS
SETTINGS = outlier.LAB.replace(consecutive_5xx_errors=consecutive_5xx_errors, interval=interval,
                               base_ejection_time=base_ejection_time)"""),
    ("md", """\
## Step 1: baseline, both versions healthy

Apply `service-go` (a Service plus the `v1` and `v2` Deployments, one pod each) and the book's route
`virtual-service-go.yaml`. The route has no subsets, so fortio's sidecar sends every call to **one** Envoy
cluster, `outbound|80||service-go.default.svc.cluster.local`, whose two hosts are the two pods. Three seconds
of paced load (`fortio load -qps 40`, in short slices) while we sample the sidecar:"""),
    ("code", """\
lab.apply(M / "service/go/service-go.yaml")
lab.apply(M / "istio/route/virtual-service-go.yaml")
baseline = outlier.experiment(lab, None, rule_path=RULE, faults=[], duration_s=3, qps=qps)
outlier.timeline_figure(baseline, names=outlier.host_names(lab), title="Step 1: baseline")"""),
    ("md", """\
One row per host: **in** the pool (Envoy's health flag `healthy`) or **out** (`/failed_outlier_check`).
The bottom row shows what fortio got back in each load slice.

**Check:** two hosts, both in the pool the whole time, every call 200."""),
    ("code", "checks.all_in_pool(baseline, 2)"),
    ("md", """\
## Step 2: make one instance fail

`v1` now answers `fault_code` on every call. There is **no** outlier detection yet, so Envoy keeps balancing
between the two pods and about half of the calls land on the broken one.

What does the client see? Istio adds a default retry policy to every route: 2 retries on
`connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`. It lists **no** status code,
though. Since Istio's `EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY` default, 503 is left out (istio-to-envoy §3),
so an application's 503 reaches the client just like a 500. Some tutorials show "all calls successful" while
a pod fails. Those ran older defaults, or a route that retries (Step 9 shows one)."""),
    ("code", """\
failing = outlier.experiment(lab, None, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)],
                             duration_s=3, qps=qps)
outlier.timeline_figure(failing, names=outlier.host_names(lab), title=f"Step 2: v1 answers {fault_code}")"""),
    ("md", "**Check:** without `outlierDetection` no host is ejected; the broken pod's errors reach fortio."),
    ("code", """\
checks.all_of("no outlierDetection: the failing pod stays in, its errors reach the client",
              [checks.never_ejected(failing, "the rule has no outlierDetection"),
               checks.retries_hide(failing, fault_code)])"""),
    ("md", """\
## Step 3: apply an outlier-detection rule

Istio turns `outlierDetection` into the Envoy cluster's `outlier_detection`. The table puts the **seed's**
block next to **this lab's** block, as Envoy receives each one:

* `consecutiveErrors` is deprecated and **ignored since Istio 1.7**: nothing reaches Envoy, so Envoy's own
  default applies, **5** consecutive 5xx (Step 6 measures it). The lab writes `consecutive5xxErrors: 3`,
  which is what the seed meant. It counts every 5xx, 500 included.
* `interval` 3 s becomes 1 s: this is how often Envoy sweeps. A host's **return** is only checked at a sweep.
* `baseEjectionTime` 3 min becomes 15 s. The first ejection lasts this long. Later ones last longer (Step 8),
  up to `max_ejection_time`, which Istio leaves at Envoy's 300 s.
* `maxEjectionPercent: 100` lets every host go out (Step 7). Istio also sets the panic threshold to 0
  (`minHealthPercent` unset), so Envoy never falls back to "send to everyone".
* Istio always turns success-rate ejection off."""),
    ("code", "outlier.mapping_table(outlier.SEED, SETTINGS)"),
    ("code", """\
outlier.write_rule(RULE, SETTINGS, comment="Lab 02: the seed's outlierDetection with short times")
lab.apply(RULE)
print(RULE.read_text())
print(outlier.envoy_view(lab))  # like istioctl proxy-config cluster fortio -o yaml"""),
    ("md", "**Check:** the client sidecar's cluster carries the rule's threshold and times."),
    ("code", "checks.rule_reached(outlier.envoy_view(lab), SETTINGS)"),
    ("md", """\
## Step 4: watch the ejection

The run below starts from a clean state: it heals both pods, applies the rule afresh (Envoy rebuilds the
cluster, so nothing carries over from earlier steps), and starts the load. At t = 0.5 s `v1` starts failing.
At t = 2.5 s we **heal** it again. By then it is already out of the pool, so for now nothing changes. We
keep watching until Envoy lets it back in."""),
    ("code", """\
story = outlier.experiment(lab, SETTINGS, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)],
                           heal_at_s=2.5, duration_s=SETTINGS.base_ejection_time_s + 8, qps=qps,
                           until=outlier.stop_after("returned", plus_s=2.0))
outlier.timeline_figure(story, names=outlier.host_names(lab), title="Steps 4 and 5: ejection and return")"""),
    ("md", """\
The red dashed line marks the ejection. The failing pod's errors stop as soon as it is out: `v2` takes every
call. How many errors did `v1` answer before it was ejected? Envoy counts on the worker thread that proxied
the response. When the count reaches the threshold (`++count == consecutive_5xx`), the worker asks the main
thread to eject the host. A few calls that were already on their way can still reach it, so a count a little
above the threshold is normal.

**Check:** `v1` was ejected after `consecutive5xxErrors` errors (plus at most a few)."""),
    ("code", "checks.ejected_after(story, consecutive_5xx_errors)"),
    ("md", """\
## Step 5: watch the recovery

`v1` is healthy again, but Envoy only finds out by trying it. An ejected host stays out for
`baseEjectionTime`, and the return is only checked at the next `interval` sweep. So it comes back after
15 s, up to one interval late (the green dashed line above). If it were still failing, the next
`consecutive5xxErrors` errors would eject it again, for longer (Step 8)."""),
    ("code", "outlier.event_table(story, names=outlier.host_names(lab))"),
    ("md", "**Check:** back after `baseEjectionTime`, and at most one `interval` late."),
    ("code", "checks.returned_after(story, SETTINGS.base_ejection_time_s, SETTINGS.interval_s)"),
    ("md", """\
## Step 6: the seed's `consecutiveErrors` is ignored, and which errors count

The seed's own block, with only the clock shortened. Istio ≥ 1.7 drops `consecutiveErrors`, so Envoy ejects
after its default of **5** consecutive 5xx, not 3 (`istio/api` marks the field deprecated and hidden):"""),
    ("code", """\
seed_short = outlier.SEED.replace(interval=interval, base_ejection_time=base_ejection_time)
seed_run = outlier.experiment(lab, seed_short, rule_path=RULE, faults=[Fault("service-go-v1", 503)],
                              duration_s=6, until=outlier.stop_after("ejected", plus_s=0.5), qps=qps)
checks.ejected_after(seed_run, 5)"""),
    ("md", """\
`consecutive5xxErrors` counts **every** 5xx. `consecutiveGatewayErrors` counts only **502, 503 and 504**
(plus connection failures). In Istio ≤ 1.6, `consecutiveErrors` meant the gateway kind, so a service answering
500 was never ejected (istio/istio#8846). With a gateway-only rule, a pod answering 500 stays in, and one
answering 503 goes out:"""),
    ("code", """\
gateway = SETTINGS.replace(consecutive_5xx_errors=0, consecutive_gateway_errors=3)  # 0 turns 5xx ejection off
gw500 = outlier.experiment(lab, gateway, rule_path=RULE, faults=[Fault(code=500)], duration_s=3, qps=qps)
gw503 = outlier.experiment(lab, gateway, rule_path=RULE, faults=[Fault(code=503)], duration_s=4, qps=qps)
gw = [checks.never_ejected(gw500, "500 is not a gateway error"), checks.ejected_after(gw503, 3)]"""),
    ("code", 'checks.all_of("consecutiveGatewayErrors counts 503 but not 500", gw)'),
    ("md", """\
## Step 7: every host ejected means 503 "no healthy upstream", not panic routing

Both pods now fail. With `maxEjectionPercent: 100` both go out. Istio sets Envoy's panic threshold to 0, so
Envoy does not fall back to sending traffic to unhealthy hosts. It answers at once: **503**, body
`no healthy upstream`, response flag **UH** (dark red below), counted in `upstream_cx_none_healthy`.

Look closely at the timeline. In our runs the last host still received a few calls after its health flag
turned, until the next sweep. Only then did the 503 UH start."""),
    ("code", """\
BOTH = [Fault("service-go-v1", fault_code), Fault("service-go-v2", fault_code)]
all_out = outlier.experiment(lab, SETTINGS, rule_path=RULE, faults=BOTH, duration_s=6, qps=qps,
                             until=outlier.stop_after("ejected", count=2, plus_s=2.0))
display(outlier.timeline_figure(all_out, names=outlier.host_names(lab), title="Step 7: both pods fail"))
checks.all_ejected_uh(all_out, 2)"""),
    ("md", """\
**`maxEjectionPercent: 50` with two hosts.** Envoy ejects a host only if
`100 × (ejected + 1) / hosts ≤ maxEjectionPercent`. The first ejection passes (50 ≤ 50), the second does not
(100 > 50). Each refusal is counted in `outlier_detection.ejections_overflow`. One failing pod therefore
stays in and keeps answering its own errors. Clients see the app's errors instead of `UH`, because the pool
is never empty."""),
    ("code", """\
half = outlier.experiment(lab, SETTINGS.replace(max_ejection_percent=50), rule_path=RULE, faults=BOTH,
                          duration_s=4, qps=qps)
display(outlier.timeline_figure(half, names=outlier.host_names(lab), title="Step 7: maxEjectionPercent 50"))
checks.max_ejection_kept(half, 2, 50)"""),
    ("md", """\
## Step 8: the ejection time grows

If a host fails again right after it comes back, Envoy ejects it for longer:
`baseEjectionTime × (number of ejections in a row)`, capped at `max_ejection_time`. The multiplier shrinks
again while the host stays healthy. Here `v1` fails and never heals, and `baseEjectionTime` is shorter
(`grow_base`) so that two ejections fit in a few seconds:"""),
    ("code", """\
grow = SETTINGS.replace(base_ejection_time=grow_base)
again = outlier.experiment(lab, grow, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)], qps=qps,
                           duration_s=4 * grow.base_ejection_time_s + 6,
                           until=outlier.stop_after("returned", count=2))
display(outlier.timeline_figure(again, names=outlier.host_names(lab), title="Step 8: v1 keeps failing"))"""),
    ("code", "checks.ejection_grows(again, grow.base_ejection_time_s)"),
    ("md", """\
## Step 9: retries hide errors, but only the ones the route retries

A VirtualService with `retries: {attempts: 2, retryOn: 5xx}` sends a failed call to **another** host (Istio
adds the `previous_hosts` predicate). Fortio then sees only 200s, yet the failing pod is still ejected: its
errors still count, the client just never sees them. This is why "all calls succeeded" does not prove that
every pod is healthy."""),
    ("code", """\
VS_RETRY = outlier.write_virtual_service(WORK / "virtual-service-go-retries.yaml", attempts=2, retry_on="5xx")
lab.apply(VS_RETRY)
retried = outlier.experiment(lab, SETTINGS, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)],
                             duration_s=3, qps=qps)"""),
    ("code", """\
lab.apply(M / "istio/route/virtual-service-go.yaml")  # back to the book's route (no retries)
checks.all_of("retries hide the errors from fortio, and the failing pod is still ejected",
              [checks.retries_hide(retried, fault_code, retried={500, 502, 503, 504}),
               checks.ejected_after(retried, consecutive_5xx_errors)])"""),
    ("md", """\
## Step 10: breaker overflows (503 UO) do not count

Lab 01's breaker also answers 503 (flag **UO**, *upstream overflow*), but that 503 is produced by the client
sidecar itself, not by the host. Since envoyproxy/envoy#25488 (merged in 2023) overflows are not reported to
the outlier detector, so a breaker that trips never ejects anyone. Here the rule allows 1 connection and 1
request and fortio uses 8 connections, with no fault at all:"""),
    ("code", """\
tight = SETTINGS.replace(connection_pool={"tcp": {"maxConnections": 1},
                                          "http": {"http1MaxPendingRequests": 1, "http2MaxRequests": 1}})
overflow = outlier.experiment(lab, tight, rule_path=RULE, faults=[], duration_s=3, qps=200, connections=8)
display(outlier.timeline_figure(overflow, names=outlier.host_names(lab), title="Step 10: breaker overflows"))
checks.overflow_not_counted(overflow)"""),
    ("md", """\
## Step 11: explore

Move the sliders, then press **Run**. Nothing runs while you drag. A run heals both pods, applies a rule built
from the sliders, makes the chosen pods fail, and watches until the ejected host is back. Some things to try:

* **failure fraction** below 1. service-go fails in a fixed pattern: 0.5 alternates, and 0.75 fails 3 times
  and then succeeds once. Each success resets the consecutive counter, so 0.75 ejects with a threshold of 3
  but never with 4. The checks say which outcome to expect.
* **consecutive5xxErrors** 1 against 10.
* **maxEjectionPercent** 100 against 50 with both pods failing (UH against a pod kept in).
* **baseEjectionTime**: watch the green return line move."""),
    ("code", """\
explorer = outlier.Explorer(lab, rule_path=RULE, base_ejection_s=int(SETTINGS.base_ejection_time_s), qps=qps)
explorer"""),
    ("md", "**Check:** the last run (yours, or one with the start values) shows what its settings predict."),
    ("code", """\
if run_explorer and explorer.last is None:
    explorer.run()  # the start values, so the check below has a run to judge
explorer.verdict()"""),
    ("md", """\
## Step 12: cleanup

`lab.cleanup()` deletes everything this lab applied and stops every process it started (the Envoys and the
service-go pods). The check confirms that none of them is still running and that the notebook's temporary
rules are gone."""),
    ("code", """\
procs = outlier.processes(lab)
lab.cleanup()
shutil.rmtree(WORK, ignore_errors=True)
checks.cleaned_up(procs, WORK)"""),
]
