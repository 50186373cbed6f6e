# Source of labs/02-outlier-detection.ipynb: a jupytext percent script (`# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). A cell's notebook id is its `id="..."`, else its heading's slug.
# After an edit: .venv/bin/python tools/notebooks/generate.py

# %% [markdown] id="title"
# # Outlier detection: ejecting a failing instance, watching it come back
#
# The seed's `DestinationRule` has two halves. Lab 01 explored the first, `connectionPool`. This lab is about
# the second one:
#
# ```yaml
#     outlierDetection:
#       consecutiveErrors: 3
#       interval: 3s
#       baseEjectionTime: 3m
#       maxEjectionPercent: 100
# ```
#
# The book sums it up in one sentence: *a failing instance is removed from the load-balancing pool; when no
# healthy instance is left, requests get an immediate 503; the instance comes back after its ejection time.*
# The client's sidecar (the Envoy next to fortio) does all of this. It counts each upstream host's consecutive
# errors, and once a host hits the threshold, Envoy marks it `/failed_outlier_check` and stops sending it
# traffic.
#
# The book's `service-go` never fails, so here we **make an instance fail** with service-go's fault knob
# (`POST /fault {"code": 503, "fraction": 1.0}`) and watch, on real Envoy, the host go **out** of the pool
# and come back **in**. The data comes from the sidecar's `/clusters` health flags and `outlier_detection.*`
# stats, sampled about 10 times a second while fortio sends paced load. Each step ends with a **check** cell
# that says whether the run showed what the text claims.
#
# <!-- claims: istio.dr.client-sidecar envoy.outlier.consecutive-5xx-ejects envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.return-at-sweep -->

# %% [markdown] lang="zh"
# # 异常检测：驱逐出故障的实例，再看着它恢复
#
# 原书的 `DestinationRule` 分为两部分。实验 01 探讨了第一部分 `connectionPool`，本实验讲第二部分：
#
# ```yaml
#     outlierDetection:
#       consecutiveErrors: 3
#       interval: 3s
#       baseEjectionTime: 3m
#       maxEjectionPercent: 100
# ```
#
# 书中用一句话概括了它的作用：*出故障的实例会被移出负载均衡池；没有健康实例时，请求会立即得到
# 503；驱逐时间过后，实例重新回到池中。* 这一切都由客户端的 sidecar（fortio 旁边的
# Envoy）完成：它统计每个上游实例的连续错误数，一旦某个实例达到阈值，Envoy 就把它标记为
# `/failed_outlier_check`，不再向它发送流量。
#
# 书中的 `service-go` 从不出错，
# 所以这里我们用 service-go 的故障开关（`POST /fault {"code": 503, "fraction": 1.0}`）**让一个实例出故障**，
# 然后在真实的 Envoy 上观察这个实例被移**出**负载均衡池、又回到池**中**。数据来自 sidecar 的 `/clusters`
# 健康标志和 `outlier_detection.*` 统计项：fortio 以固定速率施加负载的同时，我们每秒采样约 10
# 次。每一步最后都有一个**检查**单元格，告诉你这次运行是否印证了文中的说法。
#
# <!-- claims: istio.dr.client-sidecar envoy.outlier.consecutive-5xx-ejects envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.return-at-sweep -->

# %% [markdown] id="parameters-intro"
# **Parameters.** CI runs a short version of this notebook by overriding this cell (papermill). The seed's
# times (an ejection lasts 3 minutes, the detector sweeps every 3 s) would make each step take minutes. We
# keep the seed's meaning and shorten the clock: `interval` 1 s, `baseEjectionTime` 15 s.
#
# <!-- claims: envoy.outlier.return-at-sweep -->

# %% [markdown] lang="zh"
# **参数。** CI 通过覆盖这个单元格（papermill）运行本笔记本的简短版本。原书的时间（一次驱逐持续 3
# 分钟，检测器每 3 秒扫描一次）会让每一步都花上好几分钟。我们保留原书规则的含义，只把时钟缩短：`interval` 1
# s，`baseEjectionTime` 15 s。
#
# <!-- claims: envoy.outlier.return-at-sweep -->

# %% id="parameters" tags=["parameters"]
backend = "embedded"  # "embedded": real Envoys on 127.0.0.1; "kind": a kind cluster with Istio
base_ejection_time = "15s"  # the seed's 3m; interval below is the seed's 3s
interval = "1s"
consecutive_5xx_errors = 3  # what the seed meant by `consecutiveErrors: 3`
fault_code = 503  # what the failing pod answers (500 or 503)
grow_base = "5s"  # Step 8's baseEjectionTime (the second ejection lasts twice as long)
qps = 40  # paced load while we watch (fortio -qps)
run_explorer = True  # Step 11: run the sliders once with their start values
lang = "en"  # the language of the lab's run-time text: "en" or "zh" (labs/zh/ sets "zh")
predict_return_s = None  # your predictions (None: type them in the boxes, or skip)
predict_seed_errors = None
exercise_lab02 = None  # your rule for the exercise, as YAML text (None: write it in the box)

# %% id="read-parameters"
from lablib.labs import read_parameters

params = read_parameters(globals(), lab="02")  # typed; a wrong value: a ParameterError, no traceback

# %% id="imports"
import shutil
import tempfile
from pathlib import Path

from lablib.i18n import t
from lablib.lab import Lab
from lablib.labs import outlier_detection as outlier
from lablib.labs.outlier_detection import Fault, checks
from lablib.notebook import set_language

set_language(lang)  # lablib's errors and warnings in the notebook's language, without tracebacks

# %% id="start-lab"
lab = Lab(backend=backend)
WORK = Path(tempfile.mkdtemp(prefix="lab02-"))  # the rules this notebook writes (removed at cleanup)
RULE, M = WORK / "destination-rule-go-outlier.yaml", outlier.MANIFESTS
SETTINGS = outlier.LAB.replace(consecutive_5xx_errors=consecutive_5xx_errors, interval=interval,
                               base_ejection_time=base_ejection_time)

# %% [markdown]
# ## Step 1: baseline, both versions healthy
#
# Apply `service-go` (a Service plus the `v1` and `v2` Deployments, one pod each) and the book's route
# `virtual-service-go.yaml`. The route has no subsets, so fortio's sidecar sends every call to **one** Envoy
# cluster, `outbound|80||service-go.default.svc.cluster.local`, whose two hosts are the two pods. Three
# seconds of paced load (`fortio load -qps 40`, in short slices) while we sample the sidecar:
#
# <!-- claims: istio.route.no-subset-one-cluster -->

# %% [markdown] lang="zh"
# ## 第 1 步：基线，两个版本都健康
#
# 应用 `service-go`（一个 Service 加上 `v1` 和 `v2` 两个 Deployment，各一个 pod）和书中的路由
# `virtual-service-go.yaml`。这个路由没有子集，所以 fortio 的 sidecar 把每个调用都发往**同一个** Envoy 集群
# `outbound|80||service-go.default.svc.cluster.local`，它的两个实例就是这两个
# pod。我们以固定速率施加三秒的负载（`fortio load -qps 40`，切成一个个短片段），同时对 sidecar 采样：
#
# <!-- claims: istio.route.no-subset-one-cluster -->

# %% id="baseline"
lab.apply(M / "service/go/service-go.yaml")
lab.apply(M / "istio/route/virtual-service-go.yaml")
baseline = outlier.experiment(lab, None, rule_path=RULE, faults=[], duration_s=3, qps=qps, lang=lang)
outlier.timeline_figure(baseline, names=outlier.host_names(lab), title=t("lab02.title.baseline", lang),
                        lang=lang)

# %% [markdown] id="check-all-in-pool-intro"
# One row per host: **in** the pool (Envoy's health flag `healthy`) or **out** (`/failed_outlier_check`).
# The bottom row shows what fortio got back in each load slice.
#
# **Check:** two hosts, both in the pool the whole time, every call 200.
#
# <!-- claims: envoy.outlier.consecutive-5xx-ejects -->

# %% [markdown] lang="zh"
# 每个实例一行：在负载均衡池**中**（Envoy 的健康标志 `healthy`）或在池**外**（`/failed_outlier_check`）。
# 最下面一行是 fortio 在每个负载片段中收到的响应。
#
# **检查：** 两个实例始终都在池中，每个调用都返回 200。
#
# <!-- claims: envoy.outlier.consecutive-5xx-ejects -->

# %% id="check-all-in-pool"
checks.all_in_pool(baseline, 2, lang=lang)

# %% [markdown]
# ## Step 2: make one instance fail
#
# `v1` now answers `fault_code` on every call. There is **no** outlier detection yet, so Envoy keeps balancing
# between the two pods and about half of the calls land on the broken one.
#
# What does the client see? Istio adds a default retry policy to every route: 2 retries on
# `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`. It lists **no** status code,
# though. Since Istio's `EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY` default, 503 is left out (istio-to-envoy §3),
# so an application's 503 reaches the client just like a 500. Some tutorials show "all calls successful" while
# a pod fails. Those ran older defaults, or a route that retries (Step 9 shows one).
#
# <!-- claims: envoy.outlier.none-without-rule istio.retries.default-no-503 -->

# %% [markdown] lang="zh"
# ## 第 2 步：让一个实例出故障
#
# 现在 `v1` 对每个调用都返回 `fault_code`。此时**还没有**异常检测，所以 Envoy 继续在两个 pod
# 之间做负载均衡，大约一半的调用会落到出故障的那个 pod 上。
#
# 客户端看到的是什么？Istio 会给每条路由加上默认的重试策略：
# 遇到 `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes` 时重试 2
# 次。但它**没有**列出任何状态码。Istio 默认启用 `EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY` 之后，503
# 不在重试之列（istio-to-envoy §3），所以应用返回的 503 和 500 一样会到达客户端。有些教程在某个 pod
# 出故障时显示“所有调用都成功”，那是因为它们用的是旧版的默认值，或者是一条会重试的路由（第 9 步会演示）。
#
# <!-- claims: envoy.outlier.none-without-rule istio.retries.default-no-503 -->

# %% id="failing"
failing = outlier.experiment(lab, None, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)],
                             duration_s=3, qps=qps, lang=lang)
outlier.timeline_figure(failing, names=outlier.host_names(lab), lang=lang,
                        title=t("lab02.title.failing", lang, code=fault_code))

# %% [markdown] id="check-failing-intro"
# **Check:** without `outlierDetection` no host is ejected; the broken pod's errors reach fortio.
#
# <!-- claims: envoy.outlier.none-without-rule istio.retries.default-no-503 -->

# %% [markdown] lang="zh"
# **检查：** 没有 `outlierDetection` 时，没有实例被驱逐；故障 pod 的错误会到达 fortio。
#
# <!-- claims: envoy.outlier.none-without-rule istio.retries.default-no-503 -->

# %% id="check-failing"
checks.all_of(t("lab02.check.failing", lang),
              [checks.never_ejected(failing, t("lab02.why.no_rule", lang), lang=lang),
               checks.retries_hide(failing, fault_code, lang=lang)], lang=lang)

# %% [markdown] id="predict-intro"
# **Predict before you read on.** The next steps apply an outlier-detection rule and watch Envoy eject the
# failing pod and let it back in. Before they explain how, lock in two answers: how long after its ejection
# the healed `v1` comes back, and after how many errors the seed's own block (`consecutiveErrors: 3`) ejects
# it. A box left empty is skipped; Steps 5 and 6 put each answer next to the theory and the measurement.
# (papermill and CI pass them as `predict_return_s` and `predict_seed_errors`.)

# %% [markdown] lang="zh"
# **先预测，再往下读。** 接下来的几步会应用一条异常检测规则，观察 Envoy 驱逐出故障的 pod，又让它回来。在解释
# 原理之前，先锁定两个答案：修复后的 `v1` 在被驱逐之后多久回来；原书规则自己的配置块（`consecutiveErrors:
# 3`）
# 在多少个错误之后驱逐它。留空的预测算作跳过；第 5 步和第 6 步会把每个答案与理论和实测并排列出。（papermill
# 和
# CI 通过参数 `predict_return_s` 和 `predict_seed_errors` 传入。）

# %% id="predict"
from lablib.notebook import ask

guesses = {key: ask(outlier.PREDICTIONS[key], params[f"predict_{key}"], base=base_ejection_time,
                    interval=interval, lang=lang)
           for key in ("return_s", "seed_errors")}
display(*guesses.values())

# %% [markdown]
# ## Step 3: apply an outlier-detection rule
#
# Istio turns `outlierDetection` into the Envoy cluster's `outlier_detection`. The table puts the **seed's**
# block next to **this lab's** block, as Envoy receives each one:
#
# * `consecutiveErrors` is deprecated and **ignored since Istio 1.7**: nothing reaches Envoy, so Envoy's own
#   default applies, **5** consecutive 5xx (Step 6 measures it). The lab writes `consecutive5xxErrors: 3`,
#   which is what the seed meant. It counts every 5xx, 500 included.
# * `interval` 3 s becomes 1 s: this is how often Envoy sweeps. A host's **return** is only checked at a
#   sweep.
# * `baseEjectionTime` 3 min becomes 15 s. The first ejection lasts this long. Later ones last longer (Step
#   8), up to `max_ejection_time`, which Istio leaves at Envoy's 300 s.
# * `maxEjectionPercent: 100` lets every host go out (Step 7). Left out, it is Envoy's 10, which ejects
#   neither of two pods (Step 7 too). Istio also sets the panic threshold to 0 (`minHealthPercent` unset), so
#   Envoy never falls back to "send to everyone".
# * Istio always turns success-rate ejection off.
#
# <!-- claims: istio.outlier.consecutive-errors-ignored envoy.outlier.5xx-counts-every-5xx -->
# <!-- claims: istio.outlier.success-rate-off envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.max-ejection-percent envoy.outlier.return-at-sweep -->
# <!-- claims: envoy.outlier.ejection-time-grows istio.outlier.max-ejection-time-unset -->

# %% [markdown] lang="zh"
# ## 第 3 步：应用异常检测规则
#
# Istio 把 `outlierDetection` 转换成 Envoy 集群的 `outlier_detection`。
# 下表把**原书规则**的配置块和**本实验**的配置块并排列出，都是 Envoy 实际收到的样子：
#
# * `consecutiveErrors` 已被弃用，**自 Istio 1.7 起被忽略**：它不会传到 Envoy，所以生效的是 Envoy
#   自己的默认值，即连续 **5** 个 5xx（第 6 步会实测）。本实验写的是
#   `consecutive5xxErrors: 3`，这才是原书的本意。它统计所有 5xx，包括 500。
# * `interval` 由 3 s 改为 1 s：这是 Envoy 扫描的频率。实例能否**恢复**只在扫描时检查。
# * `baseEjectionTime` 由 3 min 改为 15 s。第一次驱逐持续这么久，之后的驱逐会更久（第 8 步），上限是
#   `max_ejection_time`，Istio 对它保留 Envoy 的默认值 300 s。
# * `maxEjectionPercent: 100` 允许所有实例都被驱逐（第 7 步）。不写它时取 Envoy 的 10，两个 pod
#   一个也不会被驱逐（同样见第 7 步）。Istio 还把恐慌阈值设为 0（未设置 `minHealthPercent` 时），所以
#   Envoy 永远不会退回到“发给所有实例”的恐慌路由。
# * Istio 总是关闭基于成功率的驱逐。
#
# <!-- claims: istio.outlier.consecutive-errors-ignored envoy.outlier.5xx-counts-every-5xx -->
# <!-- claims: istio.outlier.success-rate-off envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.max-ejection-percent envoy.outlier.return-at-sweep -->
# <!-- claims: envoy.outlier.ejection-time-grows istio.outlier.max-ejection-time-unset -->

# %% id="mapping-table"
outlier.mapping_table(outlier.SEED, SETTINGS, lang=lang)

# %% id="apply-rule"
outlier.write_rule(RULE, SETTINGS, comment=t("lab02.rule_comment", lang), lang=lang)
lab.apply(RULE)
print(RULE.read_text())
print(outlier.envoy_view(lab, lang=lang))  # like istioctl proxy-config cluster fortio -o yaml

# %% [markdown] id="check-rule-reached-intro"
# **Check:** the client sidecar's cluster carries the rule's threshold and times.

# %% [markdown] lang="zh"
# **检查：** 客户端 sidecar 的集群带上了规则中的阈值和时间。

# %% id="check-rule-reached"
checks.rule_reached(outlier.envoy_view(lab, lang=lang), SETTINGS, lang=lang)

# %% [markdown]
# ## Step 4: watch the ejection
#
# The run below starts from a clean state: it heals both pods, applies the rule afresh (Envoy rebuilds the
# cluster, so nothing carries over from earlier steps), and starts the load. At t = 0.5 s `v1` starts failing.
# At t = 2.5 s we **heal** it again. By then it is already out of the pool, so for now nothing changes. We
# keep watching until Envoy lets it back in.
#
# <!-- claims: envoy.outlier.consecutive-5xx-ejects envoy.cds.rule-change-rebuilds-cluster -->

# %% [markdown] lang="zh"
# ## 第 4 步：观察驱逐
#
# 下面这次运行从干净的状态开始：先修复两个 pod，重新应用规则（Envoy
# 会重建集群，前面步骤的状态不会带过来），然后开始施加负载。t = 0.5 s 时 `v1` 开始出故障；t = 2.5 s
# 时我们再把它**修复**。那时它已经被移出负载均衡池，所以暂时什么也不会改变。我们一直观察，直到 Envoy
# 让它回到池中。
#
# <!-- claims: envoy.outlier.consecutive-5xx-ejects envoy.cds.rule-change-rebuilds-cluster -->

# %% id="ejection"
story = outlier.experiment(lab, SETTINGS, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)],
                           heal_at_s=2.5, duration_s=SETTINGS.base_ejection_time_s + 8, qps=qps,
                           until=outlier.stop_after("returned", plus_s=2.0), lang=lang)
outlier.timeline_figure(story, names=outlier.host_names(lab), lang=lang,
                        title=t("lab02.title.ejection", lang))

# %% [markdown] id="check-ejected-intro"
# The red dashed line marks the ejection. The failing pod's errors stop as soon as it is out: `v2` takes every
# call. How many errors did `v1` answer before it was ejected? Envoy counts on the worker thread that proxied
# the response. When the count reaches the threshold (`++count == consecutive_5xx`), the worker asks the main
# thread to eject the host. A few calls that were already on their way can still reach it, so a count a little
# above the threshold is normal.
#
# **Check:** `v1` was ejected after `consecutive5xxErrors` errors (plus at most a few).
#
# <!-- claims: envoy.outlier.consecutive-5xx-ejects envoy.outlier.ejection-posted-to-main-thread -->

# %% [markdown] lang="zh"
# 红色虚线标出驱逐的时刻。实例一被驱逐，故障 pod 的错误就停止了：`v2` 承接了所有调用。`v1`
# 在被驱逐之前返回了多少个错误？Envoy 在代理该响应的工作线程上计数。
# 计数达到阈值时（`++count == consecutive_5xx`），该工作线程请求主线程驱逐这个实例。
# 有几个已经在途的调用仍可能到达它，所以计数比阈值略高是正常的。
#
# **检查：** `v1` 在 `consecutive5xxErrors` 个错误（最多再多几个）之后被驱逐。
#
# <!-- claims: envoy.outlier.consecutive-5xx-ejects envoy.outlier.ejection-posted-to-main-thread -->

# %% id="check-ejected"
checks.ejected_after(story, consecutive_5xx_errors, lang=lang)

# %% [markdown]
# ## Step 5: watch the recovery
#
# `v1` is healthy again, but Envoy only finds out by trying it. An ejected host stays out for
# `baseEjectionTime`, and the return is only checked at the next `interval` sweep. So it comes back after
# 15 s, up to one interval late (the green dashed line above). If it were still failing, the next
# `consecutive5xxErrors` errors would eject it again, for longer (Step 8).
#
# <!-- claims: envoy.outlier.return-at-sweep envoy.outlier.ejection-time-grows -->
# <!-- claims: envoy.outlier.counts-reset-on-return -->

# %% [markdown] lang="zh"
# ## 第 5 步：观察恢复
#
# `v1` 已经恢复健康，但 Envoy 只有试过才知道。被驱逐的实例会在池外停留
# `baseEjectionTime`，而能否恢复只在下一次 `interval` 扫描时检查。所以它在 15 s
# 后回来，最多晚一个扫描周期（上图中的绿色虚线）。如果它仍在出错，接下来的 `consecutive5xxErrors`
# 个错误会让它再次被驱逐，而且时间更长（第 8 步）。
#
# <!-- claims: envoy.outlier.return-at-sweep envoy.outlier.ejection-time-grows -->
# <!-- claims: envoy.outlier.counts-reset-on-return -->

# %% id="event-table"
outlier.event_table(story, names=outlier.host_names(lab), lang=lang)

# %% [markdown] id="check-returned-intro"
# **Check:** back after `baseEjectionTime`, and at most one `interval` late.
#
# <!-- claims: envoy.outlier.return-at-sweep -->

# %% [markdown] lang="zh"
# **检查：** 在 `baseEjectionTime` 之后恢复，最多晚一个 `interval`。
#
# <!-- claims: envoy.outlier.return-at-sweep -->

# %% id="check-returned"
checks.returned_after(story, SETTINGS.base_ejection_time_s, SETTINGS.interval_s, lang=lang)

# %% id="predict-return-compare"
outlier.return_verdict(guesses["return_s"], story, SETTINGS, lang=lang)  # your prediction, theory, the run

# %% [markdown]
# ## Step 6: the seed's `consecutiveErrors` is ignored, and which errors count
#
# The seed's own block, with only the clock shortened. Istio ≥ 1.7 drops `consecutiveErrors`, so Envoy ejects
# after its default of **5** consecutive 5xx, not 3 (`istio/api` marks the field deprecated and hidden):
#
# <!-- claims: istio.outlier.consecutive-errors-ignored -->

# %% [markdown] lang="zh"
# ## 第 6 步：原书的 `consecutiveErrors` 被忽略，以及哪些错误会计数
#
# 使用原书规则自己的配置块，只把时钟缩短。Istio ≥ 1.7 会丢弃 `consecutiveErrors`，所以 Envoy 要在连续 **5**
# 个 5xx（它的默认值）之后才驱逐，而不是 3 个（`istio/api` 把该字段标记为已弃用并隐藏）：
#
# <!-- claims: istio.outlier.consecutive-errors-ignored -->

# %% id="seed-ignored"
seed_short = outlier.SEED.replace(interval=interval, base_ejection_time=base_ejection_time)
seed_run = outlier.experiment(lab, seed_short, rule_path=RULE, faults=[Fault("service-go-v1", 503)],
                              duration_s=6, until=outlier.stop_after("ejected", plus_s=0.5), qps=qps,
                              lang=lang)
checks.ejected_after(seed_run, 5, lang=lang)

# %% id="predict-seed-compare"
outlier.seed_errors_verdict(guesses["seed_errors"], seed_run, lang=lang)  # your prediction, theory, the run

# %% [markdown] id="gateway-intro"
# `consecutive5xxErrors` counts **every** 5xx. `consecutiveGatewayErrors` counts only **502, 503 and 504**
# (plus connection failures), and any other 5xx, a 500 say, starts that count again from zero: 502, 502, 500,
# 502 ejects nobody with a threshold of 3. In Istio ≤ 1.6, `consecutiveErrors` meant the gateway kind, so a
# service answering 500 was never ejected (istio/istio#8846). With a gateway-only rule, a pod answering 500
# stays in, and one answering 503 goes out:
#
# <!-- claims: envoy.outlier.5xx-counts-every-5xx envoy.outlier.gateway-errors -->
# <!-- claims: envoy.outlier.gateway-count-reset-by-other-5xx istio.outlier.consecutive-errors-was-gateway -->

# %% [markdown] lang="zh"
# `consecutive5xxErrors` 统计**所有** 5xx。`consecutiveGatewayErrors` 只统计 **502、503 和
# 504**（以及连接失败），而其他 5xx（比如 500）会让这个计数从零开始：阈值为 3 时，502、502、500、502
# 不会驱逐任何实例。在 Istio ≤ 1.6 中，`consecutiveErrors` 指的是网关错误，所以返回 500
# 的服务永远不会被驱逐（istio/istio#8846）。使用只统计网关错误的规则时，返回 500 的 pod 留在池中，返回 503
# 的则被驱逐：
#
# <!-- claims: envoy.outlier.5xx-counts-every-5xx envoy.outlier.gateway-errors -->
# <!-- claims: envoy.outlier.gateway-count-reset-by-other-5xx istio.outlier.consecutive-errors-was-gateway -->

# %% id="gateway"
gateway = SETTINGS.replace(consecutive_5xx_errors=0, consecutive_gateway_errors=3)  # 0 turns 5xx ejection off
gw500 = outlier.experiment(lab, gateway, rule_path=RULE, faults=[Fault(code=500)], duration_s=3, qps=qps,
                           lang=lang)
gw503 = outlier.experiment(lab, gateway, rule_path=RULE, faults=[Fault(code=503)], duration_s=4, qps=qps,
                           lang=lang)

# %% id="check-gateway"
checks.all_of(t("lab02.check.gateway", lang),
              [checks.never_ejected(gw500, t("lab02.why.gateway_500", lang), lang=lang),
               checks.ejected_after(gw503, 3, lang=lang)], lang=lang)

# %% [markdown]
# ## Step 7: every host ejected means 503 "no healthy upstream", not panic routing
#
# Both pods now fail. With `maxEjectionPercent: 100` both go out. Istio sets Envoy's panic threshold to 0, so
# Envoy does not fall back to sending traffic to unhealthy hosts. It answers at once: **503**, body
# `no healthy upstream`, response flag **UH** (dark red below), counted in `upstream_cx_none_healthy`.
#
# Look closely at the timeline. In our runs the second pod still received calls for about a second after its
# health flag turned; only then did the 503 UH start. The ejection itself is not made at an `interval` sweep:
# the worker that proxied the third error hands it to Envoy's main thread, which marks the host at once (the
# flag you see in `/clusters`). But each worker routes by its own copy of the cluster's hosts, and Envoy
# batches health changes: one that comes less than `update_merge_window` (Envoy's default 1 s; Istio does not
# set it) after the cluster's previous change reaches the workers only when that window ends. Both pods are
# ejected within a fraction of a second, so the first ejection reaches the workers at once and the second
# about a second after the first, whatever the `interval` (we measured it with 1 s and 3 s).
#
# <!-- claims: envoy.outlier.ejection-not-at-sweep envoy.cluster.health-update-merge-window -->
# <!-- claims: envoy.outlier.all-ejected-uh envoy.outlier.max-ejection-percent -->

# %% [markdown] lang="zh"
# ## 第 7 步：所有实例都被驱逐意味着 503 “no healthy upstream”，而不是恐慌路由
#
# 现在两个 pod 都出故障。在 `maxEjectionPercent: 100` 下，两个都会被驱逐。Istio 把 Envoy 的恐慌阈值设为
# 0，所以 Envoy 不会退回去把流量发给不健康的实例，而是立即返回 **503**，响应体为
# `no healthy upstream`，响应标志为 **UH**（下图中的深红色），并计入 `upstream_cx_none_healthy`。
#
# 仔细看时间线。在我们的运行中，第二个 pod 的健康标志变化之后，它仍然收到了大约一秒的调用，之后才开始出现
# 503 UH。驱逐本身并不是在 `interval` 扫描时进行的：代理第三个错误的工作线程把驱逐交给 Envoy 的主线程，
# 主线程立即标记这个实例（也就是你在 `/clusters` 中看到的标志）。但每个工作线程按照自己那份集群实例列表
# 路由，而 Envoy 会把健康状态的变化合并起来：如果一次变化距离该集群上一次变化不到 `update_merge_window`
# （Envoy 默认 1 s，Istio 不设置它），它要等这个时间窗结束才会到达工作线程。两个 pod 被驱逐的时间相差
# 不到一秒，所以第一次驱逐立即到达工作线程，第二次则比第一次晚大约一秒，与 `interval` 无关（我们用 1 s
# 和 3 s 都测过）。
#
# <!-- claims: envoy.outlier.ejection-not-at-sweep envoy.cluster.health-update-merge-window -->
# <!-- claims: envoy.outlier.all-ejected-uh envoy.outlier.max-ejection-percent -->

# %% id="all-ejected"
BOTH = [Fault("service-go-v1", fault_code), Fault("service-go-v2", fault_code)]
all_out = outlier.experiment(lab, SETTINGS, rule_path=RULE, faults=BOTH, duration_s=6, qps=qps,
                             until=outlier.stop_after("ejected", count=2, plus_s=2.0), lang=lang)
display(outlier.timeline_figure(all_out, names=outlier.host_names(lab), lang=lang,
                                title=t("lab02.title.all_ejected", lang)))

# %% id="check-all-ejected"
checks.all_ejected_uh(all_out, 2, lang=lang)

# %% [markdown] id="max-ejection-percent-intro"
# **`maxEjectionPercent: 50` with two hosts.** Envoy ejects a host only if
# `100 × (ejected + 1) / hosts ≤ maxEjectionPercent`. The first ejection passes (50 ≤ 50), the second does not
# (100 > 50). Each refusal is counted in `outlier_detection.ejections_overflow`. One failing pod therefore
# stays in and keeps answering its own errors. Clients see the app's errors instead of `UH`, because the pool
# is never empty.
#
# <!-- claims: envoy.outlier.max-ejection-percent -->

# %% [markdown] lang="zh"
# **两个实例时的 `maxEjectionPercent: 50`。** 只有当 `100 × (ejected + 1) / hosts ≤ maxEjectionPercent`
# 时，Envoy 才会驱逐一个实例。第一次驱逐满足条件（50 ≤ 50），第二次不满足（100 > 50）。每次拒绝驱逐都计入
# `outlier_detection.ejections_overflow`。因此有一个故障 pod 会留在池中，继续返回它自己的错误。
# 客户端看到的是应用的错误而不是 `UH`，因为负载均衡池从未变空。
#
# <!-- claims: envoy.outlier.max-ejection-percent -->

# %% id="max-ejection-percent"
half = outlier.experiment(lab, SETTINGS.replace(max_ejection_percent=50), rule_path=RULE, faults=BOTH,
                          duration_s=4, qps=qps, lang=lang)
display(outlier.timeline_figure(half, names=outlier.host_names(lab), lang=lang,
                                title=t("lab02.title.max_ejection", lang)))
checks.max_ejection_kept(half, 2, 50, lang=lang)

# %% [markdown] id="default-ejection-percent-intro"
# **Leave `maxEjectionPercent` out, and nobody is ejected.** Istio passes `maxEjectionPercent` to Envoy only
# when it is above 0. A rule without it (or with 0) therefore gets Envoy's default, **10**. By the rule above,
# ejecting one host of two gives 100 × 1 / 2 = 50 > 10, so Envoy refuses, every time. A cluster needs at
# least 10 hosts before the default ejects anyone (100 × 1 / 10 = 10 ≤ 10), and even then only one; two need
# 20 hosts. Envoy has a field that lets the first ejection through anyway (`always_eject_one_host`), but Istio
# does not set it. Nothing warns you: `ejections_detected_consecutive_5xx` grows, and so does
# `ejections_overflow`, while the failing pod keeps its share of the calls. Here `v1` fails under this lab's
# rule with the field left out:
#
# <!-- claims: envoy.outlier.max-ejection-percent-default envoy.outlier.max-ejection-percent -->

# %% [markdown] lang="zh"
# **不写 `maxEjectionPercent`，就不会驱逐任何实例。** 只有当 `maxEjectionPercent` 大于 0 时，Istio
# 才把它传给 Envoy。所以不含这个字段（或写成 0）的规则得到的是 Envoy 的默认值 **10**。按照上面的规则，
# 驱逐两个实例中的一个得到 100 × 1 / 2 = 50 > 10，于是 Envoy 每次都拒绝。集群至少要有 10 个实例，
# 默认值才会驱逐实例（100 × 1 / 10 = 10 ≤ 10），而且也只驱逐一个；要驱逐两个则需要 20 个实例。Envoy
# 有一个字段可以让第一次驱逐照样执行（`always_eject_one_host`），但 Istio 不设置它。不会有任何警告：
# `ejections_detected_consecutive_5xx` 在增长，`ejections_overflow` 也在增长，而故障 pod
# 仍然收到它那一份调用。下面让 `v1` 出故障，使用本实验的规则，但不写这个字段：
#
# <!-- claims: envoy.outlier.max-ejection-percent-default envoy.outlier.max-ejection-percent -->

# %% id="default-ejection-percent"
unset = outlier.experiment(lab, SETTINGS.replace(max_ejection_percent=None), rule_path=RULE,
                           faults=[Fault("service-go-v1", fault_code)], duration_s=3, qps=qps, lang=lang)
display(outlier.timeline_figure(unset, names=outlier.host_names(lab), lang=lang,
                                title=t("lab02.title.default_percent", lang)))

# %% id="check-default-ejection-percent"
checks.max_ejection_refused(unset, 2, lang=lang)  # 2 hosts, maxEjectionPercent left out

# %% [markdown]
# ## Step 8: the ejection time grows
#
# If a host fails again right after it comes back, Envoy ejects it for longer:
# `baseEjectionTime × (number of ejections in a row)`, capped at `max_ejection_time`. The multiplier shrinks
# again while the host stays healthy. Here `v1` fails and never heals, and `baseEjectionTime` is shorter
# (`grow_base`) so that two ejections fit in a few seconds:
#
# <!-- claims: envoy.outlier.ejection-time-grows -->

# %% [markdown] lang="zh"
# ## 第 8 步：驱逐时间递增
#
# 如果一个实例刚回来就再次出故障，Envoy 会把它驱逐更长时间：`baseEjectionTime` ×（连续被驱逐的次数），上限为
# `max_ejection_time`。实例保持健康时，这个倍数又会逐渐减小。这里 `v1` 出故障后一直不修复，并且把
# `baseEjectionTime` 缩短为 `grow_base`，好让两次驱逐在几秒内完成：
#
# <!-- claims: envoy.outlier.ejection-time-grows -->

# %% id="ejection-grows"
grow = SETTINGS.replace(base_ejection_time=grow_base)
again = outlier.experiment(lab, grow, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)], qps=qps,
                           duration_s=4 * grow.base_ejection_time_s + 6, lang=lang,
                           until=outlier.stop_after("returned", count=2))

# %% id="check-ejection-grows"
display(outlier.timeline_figure(again, names=outlier.host_names(lab), lang=lang,
                                title=t("lab02.title.grows", lang)))
checks.ejection_grows(again, grow.base_ejection_time_s, lang=lang)

# %% [markdown]
# ## Step 9: retries hide errors, but only the ones the route retries
#
# A VirtualService with `retries: {attempts: 2, retryOn: 5xx}` sends a failed call to **another** host (Istio
# adds the `previous_hosts` predicate). Fortio then sees only 200s, yet the failing pod is still ejected: its
# errors still count, the client just never sees them. This is why "all calls succeeded" does not prove that
# every pod is healthy.
#
# <!-- claims: istio.retries.previous-hosts -->

# %% [markdown] lang="zh"
# ## 第 9 步：重试能掩盖错误，但只掩盖路由会重试的那些
#
# 带有 `retries: {attempts: 2, retryOn: 5xx}` 的 VirtualService 会把失败的调用发给**另一个**实例（Istio
# 加上了 `previous_hosts` 谓词）。于是 fortio 只看到 200，但故障 pod
# 仍然会被驱逐：它的错误照样计数，只是客户端看不到而已。所以“所有调用都成功”并不能证明每个 pod 都健康。
#
# <!-- claims: istio.retries.previous-hosts -->

# %% id="retries"
VS_RETRY = outlier.write_virtual_service(WORK / "virtual-service-go-retries.yaml", attempts=2, retry_on="5xx")
lab.apply(VS_RETRY)
retried = outlier.experiment(lab, SETTINGS, rule_path=RULE, faults=[Fault("service-go-v1", fault_code)],
                             duration_s=3, qps=qps, lang=lang)

# %% id="retries-off"
lab.apply(M / "istio/route/virtual-service-go.yaml")  # back to the book's route (no retries)
checks.all_of(t("lab02.check.retries", lang),
              [checks.retries_hide(retried, fault_code, retried={500, 502, 503, 504}, lang=lang),
               checks.ejected_after(retried, consecutive_5xx_errors, lang=lang)], lang=lang)

# %% [markdown] id="step-10-breaker-overflows-503-uo-do-not-count"
# ## Step 10: the client's own breaker overflows (503 UO) do not count
#
# Lab 01's breaker also answers 503 (flag **UO**, *upstream overflow*), but that 503 is produced by the client
# sidecar itself, not by the host. The router does not report a request it dropped itself to the outlier
# detector (envoyproxy/envoy#25488, merged in 2023), even when the drop came after a host was chosen, as an
# `http2MaxRequests` overflow does. So the client's own breaker never ejects anyone. A **server** sidecar's
# overflow is another matter: its 503 reaches the client as the host's answer and counts like any 5xx (lab
# 03, Step 2, removes `outlierDetection` for that reason). Here the rule allows 1 connection and 1 request and
# fortio uses 8 connections, with no fault at all:
#
# <!-- claims: envoy.outlier.client-overflow-not-counted envoy.outlier.server-overflow-counts -->
# <!-- claims: envoy.overflow.local-503 -->

# %% [markdown] lang="zh"
# ## 第 10 步：客户端自己的熔断溢出（503 UO）不计数
#
# 实验 01 的熔断器也返回 503（标志 **UO**，*upstream overflow*），但这个 503 是客户端 sidecar
# 自己产生的，而不是实例返回的。对于自己丢弃的请求，路由器不会报告给异常检测器（envoyproxy/envoy#25488，
# 2023 年合并），即使丢弃发生在选定实例之后，比如 `http2MaxRequests` 溢出。所以客户端自己的熔断器永远不会
# 驱逐任何实例。**服务端** sidecar 的溢出则是另一回事：它的 503 作为实例的应答到达客户端，和其他 5xx
# 一样计数（实验 03 第 2 步正因如此去掉了 `outlierDetection`）。这里规则只允许 1 个连接和 1 个请求，
# fortio 使用 8 个连接，并且完全不注入故障：
#
# <!-- claims: envoy.outlier.client-overflow-not-counted envoy.outlier.server-overflow-counts -->
# <!-- claims: envoy.overflow.local-503 -->

# %% id="overflow"
tight = SETTINGS.replace(connection_pool={"tcp": {"maxConnections": 1},
                                          "http": {"http1MaxPendingRequests": 1, "http2MaxRequests": 1}})
overflow = outlier.experiment(lab, tight, rule_path=RULE, faults=[], duration_s=3, qps=200, connections=8,
                              lang=lang)

# %% id="check-overflow"
display(outlier.timeline_figure(overflow, names=outlier.host_names(lab), lang=lang,
                                title=t("lab02.title.overflow", lang)))
checks.overflow_not_counted(overflow, lang=lang)

# %% [markdown]
# ## Step 11: explore
#
# Move the sliders, then press **Run**. Nothing runs while you drag. A run heals both pods, applies a rule
# built from the sliders, makes the chosen pods fail, and watches until the ejected host is back. Some things
# to try:
#
# * **failure fraction** below 1. service-go fails in a fixed pattern: 0.5 alternates, and 0.75 fails 3 times
#   and then succeeds once. Each success resets the consecutive counter, so 0.75 ejects with a threshold of 3
#   but never with 4. The checks say which outcome to expect.
# * **consecutive5xxErrors** 1 against 10.
# * **maxEjectionPercent** 100 against 50 with both pods failing (UH against a pod kept in), and "unset"
#   with one pod failing (nobody ejected).
# * **baseEjectionTime**: watch the green return line move.
#
# <!-- claims: envoy.outlier.5xx-counts-every-5xx envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.max-ejection-percent -->

# %% [markdown] lang="zh"
# ## 第 11 步：探索
#
# 移动滑块，然后按**运行**。拖动滑块时不会运行任何东西。每次运行都会先修复两个
# pod，应用由滑块生成的规则，让选中的 pod 出故障，然后一直观察到被驱逐的实例回来。可以试试：
#
# * **故障比例**小于 1。service-go 按固定的模式出错：0.5 是错一次、对一次交替，0.75 是错 3 次后成功 1
#   次。每次成功都会把连续计数清零，所以 0.75 在阈值为 3 时会被驱逐，阈值为 4
#   时则永远不会。检查单元格会告诉你应该预期哪种结果。
# * **consecutive5xxErrors** 取 1 与取 10 对比。
# * 两个 pod 都出故障时，**maxEjectionPercent** 取 100 与取 50 对比（UH 对比留在池中的 pod）；
#   以及只有一个 pod 出故障时选“不设置”（没有实例被驱逐）。
# * **baseEjectionTime**：观察绿色的恢复线如何移动。
#
# <!-- claims: envoy.outlier.5xx-counts-every-5xx envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.max-ejection-percent -->

# %% id="explorer"
explorer = outlier.Explorer(lab, rule_path=RULE, base_ejection_s=int(SETTINGS.base_ejection_time_s),
                            qps=qps, lang=lang)
explorer

# %% [markdown] id="check-explorer-intro"
# **Check:** the last run (yours, or one with the start values) shows what its settings predict.

# %% [markdown] lang="zh"
# **检查：** 最后一次运行（你的，或者用初始值运行的那次）显示出其设置所预期的结果。

# %% id="check-explorer"
if run_explorer and explorer.last is None:
    explorer.run()  # the start values, so the check below has a run to judge
explorer.verdict()

# %% [markdown]
# ## Exercise: eject fast, never both
#
# Now write the rule yourself. `v1` fails from t = 0.5 s and `v2` from t = 3 s; your `outlierDetection`
# must eject `v1` within 2 s of its first error and never have both pods out at once. Edit the rule in the
# box (it starts from the seed's block), then press **Check**: the lab validates it (an error points at its
# line and nothing changes), applies it afresh, sends paced load for 6 s and grades the timeline. A rule that
# misses gets a hint aimed at what the run showed; **Next hint** goes one step further. **Solution** is for
# instructors.
#
# To have your answer graded with the notebook (papermill, CI, nbgrader), write it in the next cell as a
# string, or pass it as the parameter `exercise_lab02`.

# %% [markdown] lang="zh"
# ## 练习：驱逐要快，但不能两个都驱逐
#
# 现在请自己写规则。`v1` 从 t = 0.5 s 开始出故障，`v2` 从 t = 3 s 开始；你的 `outlierDetection` 必须在 `v1`
# 的第一个错误之后 2 s 内驱逐它，并且两个 pod 永远不能同时被移出池。在文本框中修改规则（初始内容是原书的
# 配置块），然后按**检查**：实验会校验它（错误会指向所在的行，而且什么都不会改变），重新应用它，以固定速率施
# 加
# 6 s 负载，并根据时间线评分。没有达到目标的规则会得到针对这次运行所示问题的提示；**下一条提示**会再深入一步
# 。
# **参考答案**供教师使用。
#
# 如果要让答案随笔记本一起评分（papermill、CI、nbgrader），请把它以字符串的形式写在下一个单元格中，或者通过
# 参数
# `exercise_lab02` 传入。

# %% id="exercise-answer" tags=["nbgrader-answer"]
answer = params["exercise_lab02"]  # None: start from the box below; or write your rule here (YAML)

# %% id="exercise"
from lablib.notebook import show_exercise, summary

exercise = show_exercise(outlier.make_exercise(), lab, answer, lang=lang, directory=WORK)
exercise

# %% id="exercise-check" tags=["nbgrader-check"]
exercise.graded()  # the last answer checked, kept for the summary (nbgrader grades this cell)

# %% [markdown]
# ## Summary
#
# Your predictions, how close each one was, and the exercise: the table an instructor collects (what you
# skipped is listed too).

# %% [markdown] lang="zh"
# ## 小结
#
# 你的预测、每个预测的接近程度，以及练习的结果：这是教师收集的表格（跳过的预测也会列出）。

# %% id="summary-table"
summary.table(lang=lang)

# %% [markdown]
# ## Step 12: cleanup
#
# `lab.cleanup()` deletes everything this lab applied and stops every process it started (the Envoys and the
# service-go pods). The check confirms that none of them is still running and that the notebook's temporary
# rules are gone.

# %% [markdown] lang="zh"
# ## 第 12 步：清理
#
# `lab.cleanup()` 删除本实验应用过的一切，并停止它启动的每个进程（各个 Envoy 和 service-go
# pod）。检查单元格确认它们都已停止运行，并且笔记本写下的临时规则文件都已删除。

# %% id="cleanup"
procs = outlier.processes(lab)
lab.cleanup()
shutil.rmtree(WORK, ignore_errors=True)
checks.cleaned_up(procs, WORK, lang=lang)
