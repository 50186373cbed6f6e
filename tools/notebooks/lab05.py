# Source of labs/05-retries-meet-breakers.ipynb: a jupytext percent script (`# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). A cell's notebook id is its `id="..."`, else its heading's slug.
# After an edit: .venv/bin/python tools/notebooks/generate.py

# %% [markdown] id="title"
# # Retries meet breakers: how a retry policy multiplies load, and what limits it
#
# The book's chapter pairs circuit breaking with retries and timeouts, and the questions people bring to
# Istio's and Envoy's trackers show why: a retry policy turns one failing or slow instance into more load on
# that very instance, and few know which breaker stops it. Istio sets every outbound cluster's `max_retries`
# to 2³²−1 unless a DestinationRule sets `connectionPool.http.maxRetries`, so by default **nothing** limits
# concurrent retries. This lab measures, on real Envoy sidecars configured as Istio 1.30 would:
#
# 1. what Istio does without a retry policy of your own, and what `retries` adds: the **amplification**
#    (requests reaching `service-go` per client call) against the number of retries, next to its theory;
# 2. the two retry breakers: `connectionPool.http.maxRetries` and `trafficPolicy.retryBudget`;
# 3. `timeout` and `perTryTimeout` against a slow instance, and a request that spends its timeout waiting;
# 4. what is never retried (the client's own overflow) and when a server sidecar's overflow is.
#
# Each step ends with a **check** cell that says whether the run showed it.
#
# <!-- claims: istio.retries.max-retries-unlimited envoy.retries.amplification -->

# %% [markdown] lang="zh"
# # 重试遇上熔断：重试策略如何放大负载，又是什么限制了它
#
# 书中这一章把熔断和重试、超时放在一起讲；人们在 Istio 和 Envoy 的 issue 中提出的问题说明了原因：重试策略会把
# 一个失败或缓慢的实例变成压在这个实例上的更多负载，却很少有人知道是哪个熔断器在阻止它。除非 DestinationRule
# 设置了 `connectionPool.http.maxRetries`，Istio 会把每个出站集群的 `max_retries` 设为 2³²−1，所以默认情况下
# **没有任何东西**限制并发的重试。本实验在按 Istio 1.30 的方式配置的真实 Envoy sidecar 上测量：
#
# 1. 没有你自己的重试策略时 Istio 做了什么，以及 `retries` 增加了什么：**放大倍数**（每个客户端调用到达
#    `service-go` 的请求数）随重试次数的变化，并与理论对照；
# 2. 两个限制重试的熔断器：`connectionPool.http.maxRetries` 和 `trafficPolicy.retryBudget`；
# 3. `timeout` 和 `perTryTimeout` 对付一个缓慢的实例，以及一个在等待中用完超时的请求；
# 4. 什么从不重试（客户端自己的溢出），以及服务端 sidecar 的溢出何时会被重试。
#
# 每一步最后都有一个**检查**单元格，说明这次运行是否印证了它。
#
# <!-- claims: istio.retries.max-retries-unlimited envoy.retries.amplification -->

# %% [markdown] id="parameters-intro"
# **Parameters.** CI runs a short version of this notebook by overriding this cell (papermill).

# %% [markdown] lang="zh"
# **参数。** CI 通过覆盖这个单元格（papermill）运行本笔记本的简短版本。

# %% id="parameters" tags=["parameters"]
backend = "embedded"  # "embedded": real Envoys on 127.0.0.1; "kind": a kind cluster with Istio
fraction = 0.5  # the share of v1's calls that answer 503, each at random
attempts = [0, 1, 2, 5]  # Step 2: retries per call (VirtualService attempts)
concurrency = 10  # Steps 1 and 2: fortio -c
calls = 400  # Steps 1 and 2: fortio -n of each run
max_retries = 2  # Steps 3 and 4: connectionPool.http.maxRetries
retry_concurrency = [1, 2, 5, 20]  # Step 3: fortio -c values, below and above maxRetries
budget_percent = 20  # Step 4: trafficPolicy.retryBudget.percent
budget_concurrency = [5, 20, 40]  # Step 4: fortio -c values
calls_per_thread = 20  # Steps 3 and 4: each run makes calls_per_thread × c calls (fortio -n)
delay_ms = 600  # Step 5: how much later the slow v1 answers
workers = 2  # Envoy workers of every sidecar (Istio's for its default 2-CPU sidecar limit)
seed = 1  # the fault's random draws (the same runs give the same failures)
run_explorer = True  # Step 7: run the explorer once with its start values
lang = "en"  # the language of the lab's run-time text: "en" or "zh" (labs/zh/ sets "zh")
predict_amplification = None  # your predictions (None: type them in the boxes below, or skip)
predict_counter = None
predict_server_503 = None

# %% id="read-parameters"
from lablib.labs import read_parameters

params = read_parameters(globals(), lab="05")  # typed; a wrong value: a ParameterError, no traceback

# %% id="imports"
import shutil
import tempfile
from pathlib import Path

import lablib.notebook as kit
from lablib.i18n import t
from lablib.lab import Lab
from lablib.labs import retries_meet_breakers as rb
from lablib.labs.retries_meet_breakers import checks, exercise, mesh, plots
from lablib.labs.retries_meet_breakers.widgets import RetryExplorer

kit.set_language(lang)  # lablib's errors and warnings in the notebook's language, without tracebacks

# %% id="start-lab"
lab = Lab(backend=backend, workers=workers)
WORK = Path(tempfile.mkdtemp(prefix="lab05-"))  # the manifests this notebook writes (removed at cleanup)
lab.apply(mesh.v1_only(WORK), progress=kit.progress_bar("service-go v1", lang=lang))
lab.apply(kit.MANIFESTS / "kubernetes/fortio.yaml", progress=kit.progress_bar("fortio", lang=lang))

# %% [markdown]
# ## Step 1: a failing instance, and Istio's default retry policy
#
# `service-go` runs one pod here, v1 (v2 joins in Step 6). Its fault knob makes it answer 503 to a `fraction`
# of its calls, each call drawn at random (`lab.set_fault("service-go-v1", code=503, fraction=…, seed=…)`):
# a flaky instance. The route is the book's `virtual-service-go.yaml`, which has no `retries`. Istio still
# gives that route a retry policy: 2 retries on `connect-failure,refused-stream,unavailable,cancelled,
# retriable-status-codes`, and since Istio 1.24 no status code in that list, so the app's 503 is **not**
# retried. The table is the policy the client sidecar runs (`lab.proxy_config("route")`).
#
# <!-- claims: istio.retries.default-no-503 istio.retries.previous-hosts -->

# %% [markdown] lang="zh"
# ## 第 1 步：一个失败的实例，以及 Istio 默认的重试策略
#
# 这里的 `service-go` 只运行一个 pod，即 v1（v2 在第 6 步加入）。它的故障开关让它对 `fraction` 比例的调用返回
# 503，每个调用随机决定（`lab.set_fault("service-go-v1", code=503, fraction=…, seed=…)`）：一个不稳定的实例。
# 路由是书中的 `virtual-service-go.yaml`，其中没有 `retries`。Istio 仍然给这条路由一个重试策略：对
# `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes` 重试 2 次，并且从 Istio 1.24
# 起这个列表中没有任何状态码，所以应用返回的 503 **不会**被重试。下表是客户端 sidecar 正在使用的策略
# （`lab.proxy_config("route")`）。
#
# <!-- claims: istio.retries.default-no-503 istio.retries.previous-hosts -->

# %% id="baseline"
base = rb.baseline(lab, WORK, fraction=fraction, concurrency=concurrency, calls=calls, seed=seed)
policy = rb.route_policy(lab)
display(plots.policy_table(policy, lang=lang))
plots.counters_table([base], ["upstream_rq_retry", "upstream_rq_total"], lang=lang)

# %% id="check-default"
checks.default_does_not_retry(base, policy, lang=lang)

# %% [markdown] id="predict-amplification-intro"
# **Predict before you measure.** Step 2 gives the route `retries: {attempts: N, retryOn: 5xx}`. Before it
# runs, lock in how many requests will reach `service-go` per client call at N = 2. (papermill and CI pass it
# as the parameter `predict_amplification`.)

# %% [markdown] lang="zh"
# **先预测，再测量。** 第 2 步给路由加上 `retries: {attempts: N, retryOn: 5xx}`。在它运行之前，
# 先锁定你的预期：N = 2 时，每个客户端调用会有多少个请求到达 `service-go`。
# （papermill 和 CI 通过参数 `predict_amplification` 传入。）

# %% id="predict-amplification"
N = exercise.predicted_n(attempts)
guess_amplification = kit.ask(rb.PREDICTIONS["amplification"], predict_amplification, p=100 * fraction, n=N,
                              lang=lang)
guess_amplification

# %% [markdown]
# ## Step 2: retries hide errors and multiply load
#
# For N = 0, 1, 2, 5 the route gets `retries: {attempts: N, retryOn: 5xx}` (`attempts` counts **retries**:
# a call makes at most N + 1 tries). A failed try is retried after a short back-off (25 ms base, jittered),
# on another host when there is one (`previous_hosts`). If each try fails with probability p on its own, a
# call makes 1 + p + … + pᴺ tries on average and still fails with probability pᴺ⁺¹: the client's 503 share
# falls while the load on the server rises. The first plot is what reached `service-go` (its sidecar's
# `inbound|80||` counters) per client call, next to that theory for the failure fraction measured at
# `service-go` in each run; the band is the run's sampling error.
#
# <!-- claims: envoy.retries.amplification istio.retries.route-translation -->

# %% [markdown] lang="zh"
# ## 第 2 步：重试掩盖错误，也放大负载
#
# 对 N = 0、1、2、5，路由分别得到 `retries: {attempts: N, retryOn: 5xx}`（`attempts` 计的是**重试**次数：一个
# 调用最多尝试 N + 1 次）。一次失败的尝试在短暂的退避（基准 25 ms，加随机抖动）之后重试，有其他实例时发往
# 另一个实例（`previous_hosts`）。如果每次尝试各自以概率 p 失败，一个调用平均尝试 1 + p + … + pᴺ 次，仍然
# 以概率 pᴺ⁺¹ 失败：客户端的 503 占比下降，而服务端的负载上升。第一张图是每个客户端调用到达 `service-go`
# 的请求数（来自它的 sidecar 的 `inbound|80||` 计数器），并与按每次压测在 `service-go` 测得的故障比例算出的
# 理论对照；区间是该次压测的抽样误差。
#
# <!-- claims: envoy.retries.amplification istio.retries.route-translation -->

# %% id="attempts-sweep"
bar = kit.progress_bar(t("retries.progress.attempts", lang, n=attempts), lang=lang)
sweep = rb.attempts_sweep(lab, WORK, attempts, fraction=fraction, concurrency=concurrency, calls=calls,
                          seed=seed, lang=lang, progress=bar)
display(plots.amplification_figure(sweep, lang=lang), plots.share_figure(sweep, lang=lang))
plots.latency_figure(sweep, lang=lang)

# %% id="compare-amplification"
exercise.verdict_amplification(guess_amplification, sweep, lang=lang)

# %% id="check-amplification"
checks.amplification_follows_theory(sweep, lang=lang)

# %% [markdown] id="latency-note"
# The latency plot is the price the client pays for the 503s it no longer sees: each retry waits a back-off
# and a whole service time more, so p99 grows with N while the median barely moves.
#
# <!-- claims: envoy.retries.amplification -->

# %% [markdown] lang="zh"
# 延迟图是客户端为不再看到的那些 503 付出的代价：每次重试都要多等一次退避和一整个服务时间，所以 p99 随 N
# 增长，而中位数几乎不变。
#
# <!-- claims: envoy.retries.amplification -->

# %% [markdown] id="predict-counter-intro"
# **Predict.** Step 3 limits concurrent retries with `maxRetries`. Which counter of the client sidecar will
# count the retries Envoy refuses? (Parameter `predict_counter`.)

# %% [markdown] lang="zh"
# **预测。** 第 3 步用 `maxRetries` 限制并发的重试。客户端 sidecar 的哪个计数器会统计 Envoy 拒绝的重试？
# （参数 `predict_counter`。）

# %% id="predict-counter"
guess_counter = kit.ask(rb.PREDICTIONS["counter"], predict_counter, max_retries=max_retries, lang=lang)
guess_counter

# %% [markdown]
# ## Step 3: the retry breaker, maxRetries
#
# `connectionPool.http.maxRetries` becomes the cluster's `max_retries` threshold: the most retries
# **outstanding at once** in this client sidecar, counted from when a retry is scheduled (its back-off)
# until its try answers. A retry above it is not made: `upstream_rq_retry_overflow` counts it, and the failed
# try's 503 goes to the client as it is (Envoy flags it `UO`). Each call has at most one retry outstanding, so
# with `-c` at or below `maxRetries` the breaker never trips, and above it, it does. The same `attempts: 2`,
# without a rule and with `maxRetries: 2`, at growing `-c`:
#
# <!-- claims: envoy.retries.retry-overflow istio.retries.max-retries-unlimited -->

# %% [markdown] lang="zh"
# ## 第 3 步：重试熔断器 maxRetries
#
# `connectionPool.http.maxRetries` 成为集群的 `max_retries` 阈值：这个客户端 sidecar 中**同时存在**的重试的
# 最大数目，从一次重试被安排（它的退避）开始计，直到它的那次尝试得到回答。超过它的重试不会发出：
# `upstream_rq_retry_overflow` 对它计数，失败那次尝试的 503 原样返回客户端（Envoy 给它标上 `UO`）。每个调用
# 最多同时有一个重试，所以 `-c` 不超过 `maxRetries` 时这个熔断器从不触发，超过时就会触发。同样的
# `attempts: 2`，分别在没有规则和 `maxRetries: 2` 下，逐步提高 `-c`：
#
# <!-- claims: envoy.retries.retry-overflow istio.retries.max-retries-unlimited -->

# %% id="breaker-sweep"
capped = rb.breaker_sweep(lab, WORK, retry_concurrency, max_retries=max_retries, attempts=2,
                          fraction=fraction, calls_per_thread=calls_per_thread, seed=seed, lang=lang,
                          progress=kit.progress_bar("maxRetries", lang=lang))
display(plots.limiters_figure(capped, lang=lang))
plots.counters_table([r for runs in capped.values() for r in runs], rb.RETRY_COUNTERS, lang=lang)

# %% id="compare-counter"
exercise.verdict_counter(guess_counter, capped, lang=lang)

# %% id="check-breaker"
checks.retry_breaker_trips(capped, max_retries=max_retries, lang=lang)

# %% [markdown]
# ## Step 4: the retry budget
#
# `trafficPolicy.retryBudget` (Istio 1.27 and later) replaces the fixed number by a share of the load: at most
# `max(minRetryConcurrency, percent × (active + pending requests))` retries outstanding at once. Left out,
# Istio 1.30 writes `percent` 20 (1.27–1.29 wrote 0.2, which Envoy reads as 0.2%) and `minRetryConcurrency` 3;
# with a budget, Envoy ignores `max_retries`. The rule below sets `retryBudget: {}` and shows what the client
# sidecar got:
#
# <!-- claims: istio.retries.budget-defaults envoy.retries.budget -->

# %% [markdown] lang="zh"
# ## 第 4 步：重试预算
#
# `trafficPolicy.retryBudget`（Istio 1.27 及以后）把固定的数目换成负载的一个比例：同时存在的重试最多为
# `max(minRetryConcurrency, percent × (在途请求数 + 等待中的请求数))`。不设置时，Istio 1.30 写入的 `percent`
# 是 20（1.27–1.29 写的是 0.2，Envoy 把它读作 0.2%），`minRetryConcurrency` 是 3；有了预算，Envoy 就不再看
# `max_retries`。下面的规则设置了 `retryBudget: {}`，并显示客户端 sidecar 得到的配置：
#
# <!-- claims: istio.retries.budget-defaults envoy.retries.budget -->

# %% id="budget-defaults"
mesh.use_rule(lab, WORK, budget={})
plots.breakers_of(lab.proxy_config("cluster"), kit.SERVICE_CLUSTER)

# %% [markdown] id="budget-intro"
# Now `maxRetries: 2` against `retryBudget: {percent: 20}` at growing `-c`: the fixed breaker refuses more
# and more as the load grows, the budget grows with the load, and without a rule every retry goes through.
#
# <!-- claims: envoy.retries.budget envoy.retries.retry-overflow -->

# %% [markdown] lang="zh"
# 现在在逐步提高的 `-c` 下比较 `maxRetries: 2` 和 `retryBudget: {percent: 20}`：固定的熔断器随负载增长拒绝
# 得越来越多，预算随负载一起增长，而没有规则时每个重试都会发出。
#
# <!-- claims: envoy.retries.budget envoy.retries.retry-overflow -->

# %% id="budget-sweep"
budgets = rb.budget_sweep(lab, WORK, budget_concurrency, percent=budget_percent, max_retries=max_retries,
                          attempts=2, fraction=fraction, calls_per_thread=calls_per_thread, seed=seed,
                          lang=lang, progress=kit.progress_bar("retryBudget", lang=lang))
display(plots.limiters_figure(budgets, lang=lang))
plots.counters_table([r for runs in budgets.values() for r in runs], rb.RETRY_COUNTERS, lang=lang)

# %% id="check-budget"
checks.budget_caps_retries(budgets, percent=budget_percent, lang=lang)

# %% [markdown]
# ## Step 5: timeouts
#
# Now v1 answers `delay_ms` late (`set_fault(..., delay_ms=…)`), and fails no call. The route's `timeout`
# bounds the **whole** call, retries included; `perTryTimeout` bounds each try, and a try cut by it is
# retried (it counts as a 5xx). Three cases, all from the same client:
#
# * **per-try**: tries of a third of the delay, 2 retries, a long timeout: every try is cut
#   (`upstream_rq_per_try_timeout`), `service-go` still serves all three, and the call ends 504 (`URX,UT`);
# * **too long per try**: 3 retries of two thirds of the delay under a timeout of 5/3 of it: the route's
#   timeout fires before the tries run out (`upstream_rq_timeout`, `UT`, `response_timeout`);
# * **pending queue**: v1 fast again, `maxConnections: 1` and a 100 ms timeout: a request that waits for the
#   one connection spends its timeout in the pending queue; some calls time out without ever reaching
#   `service-go`.
#
# <!-- claims: envoy.timeout.per-try envoy.timeout.pending-queue -->

# %% [markdown] lang="zh"
# ## 第 5 步：超时
#
# 现在 v1 晚 `delay_ms` 才回答（`set_fault(..., delay_ms=…)`），而且不让任何调用失败。路由的 `timeout` 限制的
# 是**整个**调用，重试也包括在内；`perTryTimeout` 限制每一次尝试，被它截断的尝试会被重试（它算作 5xx）。
# 同一个客户端上的三种情况：
#
# * **单次尝试超时**：每次尝试是延迟的三分之一，重试 2 次，总超时很长：每次尝试都被截断
#   （`upstream_rq_per_try_timeout`），`service-go` 仍然处理了全部三次，调用以 504 结束（`URX,UT`）；
# * **单次尝试时间过长**：重试 3 次，每次是延迟的三分之二，总超时为延迟的 5/3：在尝试用完之前路由的超时就
#   触发了（`upstream_rq_timeout`、`UT`、`response_timeout`）；
# * **等待队列**：v1 重新变快，`maxConnections: 1`，超时 100 ms：等待那一个连接的请求在等待队列中用完了它的
#   超时；有些调用从未到达 `service-go` 就超时了。
#
# <!-- claims: envoy.timeout.per-try envoy.timeout.pending-queue -->

# %% id="timeouts"
cases = rb.timeouts(lab, WORK, delay_ms=delay_ms, lang=lang, progress=kit.progress_bar("timeouts", lang=lang))
display(plots.counters_table(cases, rb.TIMEOUT_COUNTERS, lang=lang))
display(*(plots.hosts_table(run, {}, lang=lang) for run in cases.values()))

# %% id="check-timeouts"
checks.timeouts_cut_calls(cases, lang=lang)

# %% [markdown] id="predict-server-intro"
# **Predict.** In Step 6 a server sidecar's own breaker overflows and answers 503 with `x-envoy-overloaded`.
# Under the book's route (Istio's default policy), will the client sidecar retry it? (Parameter
# `predict_server_503`.)

# %% [markdown] lang="zh"
# **预测。** 第 6 步中服务端 sidecar 自己的熔断器溢出，并返回带 `x-envoy-overloaded` 的 503。在书中的路由
# （Istio 默认的策略）下，客户端 sidecar 会重试它吗？（参数 `predict_server_503`。）

# %% id="predict-server"
guess_server = kit.ask(rb.PREDICTIONS["server_503"], predict_server_503, lang=lang)
guess_server

# %% [markdown]
# ## Step 6: what is never retried, and what is
#
# **The client's own overflow.** With `http2MaxRequests: 1` and `retries: {attempts: 5, retryOn: 5xx}`, the
# client sidecar's breaker answers 503 `UO` itself. Envoy never retries its own overflow, whatever `retryOn`
# says: a retry would only meet the same full breaker.
#
# **A server sidecar's overflow.** Istio puts the rule's `connectionPool` on each server pod's sidecar too.
# v2 joins, a second client pod (`fortio-2`) calls at the same time, and v1 answers slowly, so v1's sidecar
# holds more than its 4 requests and answers 503 with `x-envoy-overloaded: true`. To the client that is an
# upstream 503 like the app's. Envoy retries it when the policy covers 503 (`5xx`, `gateway-error`, or the
# code 503; Envoy before 1.15 never did), so Istio's default policy does not, and `retryOn: 5xx` does; the
# retry then goes to v2 (`previous_hosts`). The rule asks for `loadBalancer: RANDOM` so that v1 keeps getting
# half of the first tries (Istio's `LEAST_REQUEST` would steer around the slow pod).
#
# <!-- claims: envoy.retries.overflow-not-retried envoy.retries.server-overflow-retried -->
# <!-- claims: istio.retries.previous-hosts istio.pool.inbound-too istio.retries.default-no-503 -->

# %% [markdown] lang="zh"
# ## 第 6 步：什么从不重试，什么会重试
#
# **客户端自己的溢出。** 在 `http2MaxRequests: 1` 和 `retries: {attempts: 5, retryOn: 5xx}` 下，客户端
# sidecar 的熔断器自己返回 503 `UO`。无论 `retryOn` 怎么写，Envoy 都从不重试自己的溢出：重试只会再次遇到同一
# 个已满的熔断器。
#
# **服务端 sidecar 的溢出。** Istio 也把规则的 `connectionPool` 放到每个服务端 pod 的 sidecar 上。v2 加入，
# 第二个客户端 pod（`fortio-2`）同时发起调用，v1 回答得很慢，于是 v1 的 sidecar 要持有超过它的 4 个请求，
# 并返回带 `x-envoy-overloaded: true` 的 503。对客户端来说，这是一个和应用返回的一样的上游 503。当策略覆盖
# 503 时（`5xx`、`gateway-error` 或状态码 503；1.15 之前的 Envoy 从不重试它），Envoy 会重试它，所以 Istio
# 的默认策略不重试，而 `retryOn: 5xx` 会重试；重试随后发往 v2（`previous_hosts`）。规则设置了
# `loadBalancer: RANDOM`，让 v1 仍然得到一半的首次尝试（Istio 的 `LEAST_REQUEST` 会避开这个慢的 pod）。
#
# <!-- claims: envoy.retries.overflow-not-retried envoy.retries.server-overflow-retried -->
# <!-- claims: istio.retries.previous-hosts istio.pool.inbound-too istio.retries.default-no-503 -->

# %% id="never-retried"
never = rb.never_retried(lab, WORK, lang=lang, progress=kit.progress_bar("step 6", lang=lang))
pods = rb.pod_addresses(lab)  # where the client reaches each pod -> its name
display(*(plots.hosts_table(run, pods, lang=lang) for run in never.values()))
plots.counters_table(never, ["upstream_rq_retry", "upstream_rq_active_overflow"], lang=lang)

# %% id="compare-server"
exercise.verdict_server_503(guess_server, never["server-default"], lang=lang)

# %% id="check-client-overflow"
checks.overflow_not_retried(never["client-overflow"], lang=lang)

# %% id="check-server-overflow"
checks.server_overflow_retried(never["server-default"], never["server-5xx"], pods, lang=lang)

# %% [markdown]
# ## Step 7: explorer
#
# Pick the retries (`attempts`), the conditions (`retryOn`), a `perTryTimeout`, the retry breakers
# (`maxRetries`, the budget's `percent`), the failure fraction of every `service-go` pod and fortio's `-c`,
# then press **Run**: the run lands on the amplification and 503-share plots, on its setting's trace, next to
# the theory's curves for that fraction. With `retryOn` set to Istio's default list, the app's 503 is not
# retried, whatever `attempts` says.
#
# <!-- claims: envoy.retries.amplification istio.retries.default-no-503 -->

# %% [markdown] lang="zh"
# ## 第 7 步：探索器
#
# 选择重试次数（`attempts`）、条件（`retryOn`）、`perTryTimeout`、限制重试的熔断器（`maxRetries`、预算的
# `percent`）、每个 `service-go` pod 的故障比例以及 fortio 的 `-c`，然后按 **Run**：这次运行落在放大倍数图和
# 503 占比图上它的设置对应的曲线上，旁边是该故障比例的理论曲线。把 `retryOn` 设为 Istio 的默认列表时，无论
# `attempts` 是多少，应用返回的 503 都不会被重试。
#
# <!-- claims: envoy.retries.amplification istio.retries.default-no-503 -->

# %% id="explorer"
explorer = RetryExplorer(lab, directory=WORK, fraction=fraction, concurrency=concurrency, seed=seed,
                         lang=lang)
explorer

# %% id="check-explorer"
if run_explorer and not explorer.runs:
    explorer.run()  # the start values, so the check below has a run to judge
checks.explorer_ran(explorer.runs, lang=lang)

# %% [markdown] id="summary-intro"
# **Your predictions**, next to the theory and the runs: the table an instructor collects.

# %% [markdown] lang="zh"
# **你的预测**与理论和压测结果并排列出：这是教师收集的表格。

# %% id="summary-table"
kit.summary.table(lang=lang)

# %% [markdown]
# ## Step 8: cleanup
#
# `lab.cleanup()` deletes everything this lab applied and stops every process it started (the sidecars, both
# client pods' included, and the service-go pods); the notebook's manifests are removed too.

# %% [markdown] lang="zh"
# ## 第 8 步：清理
#
# `lab.cleanup()` 删除本实验应用过的一切，并停止它启动的每个进程（所有 sidecar，包括两个客户端 pod 的，以及
# service-go pod）；笔记本写下的清单文件也会删除。

# %% id="cleanup"
lab.cleanup()
shutil.rmtree(WORK, ignore_errors=True)
kit.checks.cleaned_up(lang=lang)
