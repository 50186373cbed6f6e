# Source of labs/01-circuit-breaking.ipynb: a jupytext percent script (`# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). A cell's notebook id is its `id="..."`, else its heading's slug.
# After an edit: .venv/bin/python tools/notebooks/generate.py

# %% [markdown] id="title"
# # Circuit breaking: the book's experiment on real Envoy
#
# A **circuit breaker** in Istio is two things in one `DestinationRule`, both enforced by the *client's*
# sidecar (the Envoy next to the caller) on its calls to the service; Istio also gives the server's sidecar
# the same `connectionPool` (lab 03 shows where each limit lives):
#
# * **`connectionPool`** caps how much one client proxy may send to a service at once: `tcp.maxConnections`
#   connections, `http.http2MaxRequests` requests in flight, `http.http1MaxPendingRequests` requests waiting
#   for a connection. The caps act differently. Above `maxConnections` a request does not fail: it **waits**
#   in the pending queue for a connection. Only a full pending queue or `http2MaxRequests` makes Envoy answer
#   at once with **503** (response flag `UO`, *upstream overflow*) instead of passing the request on.
#   `http.maxRequestsPerConnection` rejects nothing: it closes a keep-alive connection after that many
#   requests.
# * **`outlierDetection`** watches each backend instance and **ejects** one from the load-balancing pool after
#   consecutive errors, for `baseEjectionTime`; when no healthy instance is left, callers get 503 at once: the
#   service is "tripped". After the ejection time the instance comes back and is watched again.
#
# This lab replays the book's experiment (《Istio 入门与实战》, circuit breaking) step by step: fortio calls
# `service-go` (pods v1 and v2) through its sidecar, at growing concurrency, under the book's rule. Each step
# has a **check** cell that says whether it worked. We then explain every 503 with Envoy's own counters,
# compare our numbers with the book's, and let you move the knobs yourself.
#
# The embedded backend runs **real Envoy 1.40 processes** on 127.0.0.1, configured exactly as Istio configures
# the sidecars (same cluster names, same circuit-breaker fields); `backend="kind"` runs the same cells on a
# kind cluster with Istio.
#
# <!-- claims: envoy.max-connections.queues envoy.pool.which-caps-reject istio.dr.client-sidecar -->
# <!-- claims: istio.pool.per-client-proxy envoy.overflow.local-503 envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.return-at-sweep istio.pool.inbound-too -->

# %% [markdown] lang="zh"
# # 熔断：在真实的 Envoy 上重现书中的实验
#
# Istio 中的**熔断器**是同一个 `DestinationRule` 里的两部分配置，二者都由**客户端**的 sidecar（调用方旁边的
# Envoy）对它发往该服务的调用执行；Istio 还会把同样的 `connectionPool` 交给服务端的 sidecar（实验 03
# 会讲每个上限作用在哪里）：
#
# * **`connectionPool`**（连接池）限制一个客户端代理同一时刻能向一个服务发送多少：`tcp.maxConnections`
#   个连接、`http.http2MaxRequests` 个在途请求、`http.http1MaxPendingRequests`
#   个等待连接的请求。这几个上限的作用并不相同。超过 `maxConnections` 时请求并不会失败，而是在等待队列中
#   **等待**一个连接。只有等待队列已满或达到 `http2MaxRequests` 时，Envoy 才不再转发请求，而是立即返回
#   **503**（响应标志 `UO`，即 *upstream overflow*，熔断溢出）。`http.maxRequestsPerConnection`
#   不拒绝任何请求：一个长连接（keep-alive）承载这么多个请求之后，Envoy 就把它关闭。
# * **`outlierDetection`**（异常检测，书中称为实例健康检测）监视后端的每个实例：某个实例连续出错后，
#   就把它从负载均衡池中**驱逐**出去，时长为 `baseEjectionTime`；一旦没有健康实例，调用方会立即收到
#   503，服务就此“熔断”。驱逐时间过后，该实例回到池中，并再次接受检测。
#
# 本实验一步一步重现书中（《Istio 入门与实战》熔断一节）的实验：fortio 通过自己的 sidecar 调用
# `service-go`（v1 和 v2 两个 pod），在书中的规则下逐步提高并发。每一步都有一个**检查**单元格，
# 告诉你这一步是否成功。随后我们用 Envoy 自己的计数器解释每一个 503，把我们的数据与书中的数据对比，
# 最后让你亲手调节这些参数。
#
# 嵌入式后端（embedded）在 127.0.0.1 上运行**真实的 Envoy 1.40 进程**，配置与 Istio 为 sidecar
# 生成的完全一致（相同的集群名，相同的熔断字段）；设置 `backend="kind"` 则在装有 Istio 的 kind
# 集群上运行同样的单元格。
#
# <!-- claims: envoy.max-connections.queues envoy.pool.which-caps-reject istio.dr.client-sidecar -->
# <!-- claims: istio.pool.per-client-proxy envoy.overflow.local-503 envoy.outlier.all-ejected-uh -->
# <!-- claims: envoy.outlier.return-at-sweep istio.pool.inbound-too -->

# %% [markdown] id="parameters-intro"
# **Parameters.** CI runs a small version of this notebook by overriding this cell (papermill). `concurrency`
# is fortio's `-c` for Step 4 (the book ran 20, 30 and 40), each run makes `calls_per_thread × c` calls like
# the book's `-n`, and each concurrency runs `repeats` times because the percentages vary run to run.

# %% [markdown] lang="zh"
# **参数。** CI 通过覆盖这个单元格（papermill）运行本笔记本的精简版。`concurrency` 是第 4 步中 fortio 的
# `-c`（书中用的是 20、30 和 40）；与书中的 `-n` 一样，每次压测发出 `calls_per_thread × c` 个调用；由于 503
# 的比例每次压测都有波动，每个并发值压测 `repeats` 次。

# %% id="parameters" tags=["parameters"]
backend = "embedded"  # "embedded": real Envoys on 127.0.0.1; "kind": a kind cluster with Istio
concurrency = [10, 20, 30, 40, 60]  # fortio -c values for Step 4
calls_per_thread = 10  # fortio -n = 10 × c, as in the book
repeats = 3  # runs per concurrency
workers = 2  # Envoy worker threads in the fortio sidecar (--concurrency)
persist = False  # True: the lab outlives this kernel and a restarted kernel re-attaches (until cleanup)
lang = "en"  # the language of the lab's run-time text: "en" or "zh" (labs/zh/ sets "zh")
predict_seed_share = None  # your predictions (None: type them in the boxes of Step 4, or skip)
predict_pending_share = None
predict_counter = None
exercise_lab01 = None  # your rule for the exercise, as YAML text (None: write it in the box)

# %% id="read-parameters"
from lablib.labs import read_parameters

params = read_parameters(globals(), lab="01")  # typed; a wrong value: a ParameterError, no traceback

# %% id="imports"
import lablib.notebook as kit
from lablib.i18n import t
from lablib.lab import Lab
from lablib.labs import circuit_breaking as cb

kit.set_language(lang)  # lablib's errors and warnings in the notebook's language, without tracebacks
M = kit.MANIFESTS  # the book's repository layout: kubernetes/, service/go/, istio/...
CLUSTER = kit.SERVICE_CLUSTER  # outbound|80||service-go.default.svc.cluster.local: the route's Envoy cluster
SEED, PENDING = t("lab01.label.seed", lang), "+ http1MaxPendingRequests: 10"  # the two rules' run labels

# %% [markdown]
# ## Step 1: start fortio
#
# The book starts a `fortio` pod (`kubectl apply -f kubernetes/fortio.yaml`); `service-go` (a Service and two
# Deployments, `version: v1` and `version: v2`) was deployed in an earlier chapter, so we apply it too. In the
# embedded lab each pod is a process behind its own Envoy sidecar; fortio's sidecar is the client proxy whose
# circuit breakers we will watch.
#
# The embedded lab belongs to this kernel: it stops when the kernel stops, and the next `Lab()` removes
# anything a crashed kernel left behind. Like a kind cluster, it can also outlive the kernel (`persist = True`
# above): then a restarted kernel re-attaches to the running lab, and the cleanup cell (or `python -m lablib
# cleanup` in a terminal) stops it. Either way a terminal's `python -m lablib stats` acts on this same lab.
#
# <!-- claims: istio.dr.client-sidecar -->

# %% [markdown] lang="zh"
# ## 第 1 步：启动 fortio
#
# 书中先启动一个 `fortio` pod（`kubectl apply -f kubernetes/fortio.yaml`）；`service-go`（一个 Service 和两
# 个
# Deployment：`version: v1` 与 `version: v2`）在前面的章节中已经部署，所以我们也一并应用它。在嵌入式实验中，
# 每个 pod 都是一个进程，各自带一个 Envoy sidecar；fortio 的 sidecar
# 就是客户端代理，我们要观察的正是它的熔断器。
#
# 嵌入式实验属于当前内核：内核停止时它也随之停止，下一次 `Lab()` 会清除崩溃的内核遗留的一切。与 kind
# 集群一样，它也可以在内核结束后继续运行（上面设置 `persist = True`）：
# 这时重启后的内核会重新接管正在运行的实验，直到清理单元格（或在终端中运行
# `python -m lablib cleanup`）把它停掉。无论哪种方式，在终端中运行的 `python -m lablib stats`
# 操作的都是同一个实验。
#
# <!-- claims: istio.dr.client-sidecar -->

# %% id="start-fortio"
lab = Lab(backend=backend, workers=workers, persist=persist)
lab.apply(M / "service/go/service-go.yaml", progress=kit.progress_bar("service-go", lang=lang))
lab.apply(M / "kubernetes/fortio.yaml", progress=kit.progress_bar("fortio", lang=lang))

# %% [markdown] id="check-pods-up-intro"
# **Check:** fortio's sidecar sees both service-go pods, healthy.

# %% [markdown] lang="zh"
# **检查：** fortio 的 sidecar 看到了两个 service-go pod，并且都是健康的。

# %% id="check-pods-up"
kit.checks.pods_up(lab.hosts(CLUSTER), expected=2, lang=lang)

# %% [markdown]
# ## Step 2: the route rule
#
# `istio/route/virtual-service-go.yaml` sends every request for `service-go` to host `service-go`, with no
# subset and no weight. So fortio's sidecar uses **one** Envoy cluster,
# `outbound|80||service-go.default.svc.cluster.local`, whose endpoints are both pods. A few calls, like the
# book's `fortio load -curl http://service-go/env`:
#
# <!-- claims: istio.route.no-subset-one-cluster -->

# %% [markdown] lang="zh"
# ## 第 2 步：路由规则
#
# `istio/route/virtual-service-go.yaml` 把所有发往 `service-go` 的请求都路由到目标主机
# `service-go`，没有指定子集，也没有权重。因此 fortio 的 sidecar 只使用**一个** Envoy 集群
# `outbound|80||service-go.default.svc.cluster.local`，它的端点就是这两个 pod。先发几个请求，就像书中的
# `fortio load -curl http://service-go/env`：
#
# <!-- claims: istio.route.no-subset-one-cluster -->

# %% id="apply-route"
lab.apply(M / "istio/route/virtual-service-go.yaml")
first = lab.fortio("load -c 1 -qps 0 -n 5 -loglevel Error http://service-go/env")
kit.checks.route_works(first, lang=lang)

# %% [markdown]
# ## Step 3: the breaker rule
#
# The book's `DestinationRule` (left) and what it becomes in fortio's sidecar (right, like `istioctl
# proxy-config cluster fortio -o yaml`): `maxConnections` → `circuitBreakers.thresholds[0].maxConnections`,
# `http2MaxRequests` → `maxRequests`, `maxRequestsPerConnection` → `maxRequestsPerConnection` of the HTTP
# protocol options, and, because the rule does not set it, `maxPendingRequests: 4294967295` (unlimited). The
# `outlierDetection` block becomes `outlierDetection` (its `consecutiveErrors` is ignored since Istio 1.7).
#
# <!-- claims: istio.pool.field-mapping istio.pool.unset-is-unlimited -->
# <!-- claims: istio.outlier.consecutive-errors-ignored -->

# %% [markdown] lang="zh"
# ## 第 3 步：熔断规则
#
# 左边是书中的 `DestinationRule`，右边是它在 fortio 的 sidecar 中变成的样子（类似
# `istioctl proxy-config cluster fortio -o yaml`）：`maxConnections` →
# `circuitBreakers.thresholds[0].maxConnections`，`http2MaxRequests` →
# `maxRequests`，`maxRequestsPerConnection` → HTTP 协议选项中的 `maxRequestsPerConnection`；
# 由于规则没有设置等待上限，还得到 `maxPendingRequests: 4294967295`（不限）。`outlierDetection` 块变成集群的
# `outlierDetection`（其中的 `consecutiveErrors` 自 Istio 1.7 起被忽略）。
#
# <!-- claims: istio.pool.field-mapping istio.pool.unset-is-unlimited -->
# <!-- claims: istio.outlier.consecutive-errors-ignored -->

# %% id="apply-seed-dr"
SEED_DR = M / "istio/resilience/destination-rule-go-cb.yaml"
lab.apply(SEED_DR)
kit.side_by_side(SEED_DR.read_text(), kit.cluster_yaml(lab.proxy_config("cluster"), CLUSTER), lang=lang)

# %% [markdown] id="check-breaker-applied-intro"
# **Check:** the thresholds reached the client sidecar's cluster.

# %% [markdown] lang="zh"
# **检查：** 这些阈值已经到达客户端 sidecar 的集群配置。

# %% id="check-breaker-applied"
want = {"max_connections": 10, "max_requests": 10, "max_pending_requests": 2**32 - 1}  # 2^32-1: unset
kit.checks.breaker_applied(lab.proxy_config("cluster"), cluster=CLUSTER, expect=want, lang=lang)

# %% [markdown] id="limits-intro"
# What theory expects from this rule for the route's cluster: on HTTP/1.1 a connection carries one request at
# a time, so 10 connections means 10 requests in flight, and everything above **waits** in a pending queue
# that the seed's rule leaves unlimited. The book's repository has another version of this file
# (`istio/resilience/destination-rule-go-cb.yaml` in mgxian/istio-lab): it sets
# `http1MaxPendingRequests: 10` and has no `maxRequestsPerConnection`. Our second rule,
# `destination-rule-go-cb-pending.yaml`, is the printed rule plus that pending limit: it keeps
# `maxRequestsPerConnection: 10`, and writes `consecutive5xxErrors: 3` where the book prints
# `consecutiveErrors: 3` (Step 3 says why). With the pending limit the cluster admits
# **L = 10 in flight + 10 waiting = 20**. We run both.
#
# <!-- claims: book.repository-rule envoy.max-connections.queues istio.pool.unset-is-unlimited -->
# <!-- claims: envoy.http1.one-request-per-connection envoy.breaker.limit-in-flight-plus-waiting -->

# %% [markdown] lang="zh"
# 理论上，这条规则对路由所用的集群意味着什么：在 HTTP/1.1 上，一个连接同一时刻只承载一个请求，所以 10
# 个连接就是 10 个在途请求，超出的请求都在等待队列中**等待**，而原书规则没有限制这个队列。
# 书中代码仓库里的这个文件（mgxian/istio-lab 的 `istio/resilience/destination-rule-go-cb.yaml`）与书中印出的
# 不同：它设置了 `http1MaxPendingRequests: 10`，却没有 `maxRequestsPerConnection`。我们的第二条规则
# `destination-rule-go-cb-pending.yaml` 是印出的规则加上这个等待上限：
# 它保留了 `maxRequestsPerConnection: 10`，
# 并把书中印出的 `consecutiveErrors: 3` 写成 `consecutive5xxErrors: 3`（原因见第 3 步）。加上等待上限，
# 这个集群最多容纳 **L = 10 个在途 + 10 个等待 = 20** 个请求。两条规则我们都会压测。
#
# <!-- claims: book.repository-rule envoy.max-connections.queues istio.pool.unset-is-unlimited -->
# <!-- claims: envoy.http1.one-request-per-connection envoy.breaker.limit-in-flight-plus-waiting -->

# %% id="limits-table"
PENDING_DR = M / "istio/resilience/destination-rule-go-cb-pending.yaml"
base = [M / "service/go/service-go.yaml", M / "istio/route/virtual-service-go.yaml"]
rules = {SEED: SEED_DR, PENDING: PENDING_DR}
kit.limits_table({rule: kit.limits_for_files([*base, f], workers=workers) for rule, f in rules.items()},
                 lang=lang)

# %% [markdown] id="predict-intro"
# **Predict before you measure.** Step 4 runs fortio at growing concurrency under both rules. Before it does,
# lock in what you expect at its highest concurrency: the share of 503s under each rule, and which Envoy
# counter will count them. A box left empty is skipped. After the runs, each prediction stands next to the
# theory and the measurement, with one sentence on what the difference means. (papermill and CI pass them as
# parameters: `predict_seed_share`, `predict_pending_share`, `predict_counter`.)

# %% [markdown] lang="zh"
# **先预测，再测量。** 第 4 步会在两条规则下逐步提高并发运行 fortio。在它运行之前，先锁定你对最高并发时的预
# 期：
# 每条规则下 503 的比例，以及哪个 Envoy 计数器会统计这些 503。留空的预测算作跳过。压测之后，每个预测都会与理
# 论和
# 实测并排列出，并用一句话说明其中的差别意味着什么。（papermill 和 CI 通过参数传入：`predict_seed_share`、
# `predict_pending_share`、`predict_counter`。）

# %% id="predict"
TOP = max(concurrency)  # the predictions are about the sweep's highest -c
guesses = {key: kit.ask(cb.PREDICTIONS[key], params[f"predict_{key}"], c=TOP, lang=lang)
           for key in ("seed_share", "pending_share", "counter")}
display(*guesses.values())

# %% [markdown]
# ## Step 4: load at growing concurrency
#
# The book runs `fortio load -c C -qps 0 -n 10·C -loglevel Error http://service-go/env` for C = 20, 30, 40.
# `-qps 0` makes each of the C threads call again as soon as its previous call returns (a closed loop). Before
# each run we reset the sidecar's counters, so we can read which breaker counter each 503 came from.
#
# First the seed's rule as printed (no pending limit):

# %% [markdown] lang="zh"
# ## 第 4 步：逐步提高并发进行压测
#
# 书中对 C = 20、30、40 运行 `fortio load -c C -qps 0 -n 10·C -loglevel Error http://service-go/env`。
# `-qps 0` 让 C 个线程中的每一个在上一次调用返回后立即发起下一次调用（闭环）。每次压测之前，我们都会重置
# sidecar 的计数器，这样就能看出每个 503 来自哪个熔断计数器。
#
# 先用书中印出的原书规则（没有等待上限）：

# %% id="sweep-seed"
seed = kit.sweep(lab, SEED, concurrency, cluster=CLUSTER, repeats=repeats, calls_per_thread=calls_per_thread,
                 progress=kit.progress_bar(SEED, lang=lang), lang=lang)

# %% [markdown] id="sweep-pending-intro"
# Then the second rule: the printed one plus `http1MaxPendingRequests: 10`, the pending limit of the book's
# repository file (how the two files differ is above):
#
# <!-- claims: book.repository-rule -->

# %% [markdown] lang="zh"
# 再用第二条规则：印出的规则加上 `http1MaxPendingRequests: 10`，即书中代码仓库文件里的等待上限（两个文件
# 的差别见上文）：
#
# <!-- claims: book.repository-rule -->

# %% id="sweep-pending"
lab.apply(PENDING_DR)
pending = kit.sweep(lab, PENDING, concurrency, cluster=CLUSTER, repeats=repeats,
                    calls_per_thread=calls_per_thread, lang=lang,
                    progress=kit.progress_bar(t("lab01.progress.pending", lang), lang=lang))

# %% [markdown] id="comparison-intro"
# **The book's numbers next to ours.** Each of our cells is the mean 503 share over the repeats, with the
# lowest and highest run; the last column is the fast-rejection bound 1 − L/c for L = 20 (rejected threads
# burn their calls as instant 503s while the admitted ones finish theirs). Why the book's c = 30 and 40 stay
# below ours, factor by factor and measured, is lab 04 (`04-reproducing-published-runs.ipynb`).
#
# <!-- claims: envoy.overflow.local-503 -->

# %% [markdown] lang="zh"
# **书中的数据与我们的数据对照。** 我们的每一格是各次重复压测中 503 比例的平均值，方括号里是最低和最高的
# 一次；最后一列是 L = 20 时的快速拒绝界 1 − L/c（被拒绝的线程立刻拿到 503，很快用完自己的调用次数，
# 被接纳的线程则照常完成各自的调用）。书中 c = 30 和 40 的结果为什么比我们的低，实验 04
# （`04-reproducing-published-runs.ipynb`）逐个因素做了测量和解释。
#
# <!-- claims: envoy.overflow.local-503 -->

# %% id="comparison-table"
limits = kit.limits_for_files([*base, PENDING_DR], workers=workers)
theory = kit.overlay(limits, label=PENDING, **kit.timings(pending))
kit.comparison_table(kit.book_points(lang=lang), seed + pending, lang=lang,
                     bound=lambda c: max(0.0, 1 - theory.limit / c))

# %% [markdown] id="share-intro"
# **503 share vs concurrency.** Dots are our runs (one per repeat), diamonds the book's. The dashed line is L,
# the shaded band what real Envoy may admit around it (per-worker connection pools add slack), the solid curve
# the fast-rejection bound and the dotted curve a simulation of fortio's threads against the breaker.
#
# <!-- claims: envoy.pool.per-worker-slack -->

# %% [markdown] lang="zh"
# **503 比例随并发的变化。** 圆点是我们的压测（每次重复一个点），菱形是书中的数据。虚线是 L，阴影带是真实
# Envoy 在 L 附近可能接纳的范围（每个工作线程各有自己的连接池，带来一些余量），实线是快速拒绝界，点线是
# fortio 线程撞上熔断器的模拟结果。
#
# <!-- claims: envoy.pool.per-worker-slack -->

# %% id="share-figure"
kit.share_figure(kit.book_points(lang=lang) + seed + pending, theory, lang=lang)

# %% [markdown] id="check-breaker-trips-intro"
# **Check:** with the pending limit, 503s appear well above L and none well below it.
#
# <!-- claims: envoy.breaker.trips-above-limit -->

# %% [markdown] lang="zh"
# **检查：** 有等待上限时，并发远高于 L 时出现 503，远低于 L 时没有 503。
#
# <!-- claims: envoy.breaker.trips-above-limit -->

# %% id="check-breaker-trips"
kit.checks.breaker_trips(pending, theory.limit, lang=lang)

# %% [markdown] id="latency-intro"
# **Latency percentiles.** With the seed's rule the excess waits, so latency grows with concurrency; with the
# pending limit the excess is rejected in about a millisecond, so the low percentiles fall (fast 503s) while
# the admitted requests still wait behind up to 10 others.
#
# <!-- claims: envoy.pending.overflow-rejects envoy.overflow.local-503 envoy.max-connections.queues -->

# %% [markdown] lang="zh"
# **延迟百分位。** 在原书规则下，超出的请求要等待，所以延迟随并发增长；有等待上限时，超出的请求在约 1
# 毫秒内就被拒绝，因此低百分位反而下降（快速返回的 503），而被接纳的请求仍要排在最多 10 个请求之后等待。
#
# <!-- claims: envoy.pending.overflow-rejects envoy.overflow.local-503 envoy.max-connections.queues -->

# %% id="latency-figure"
kit.latency_figure(seed + pending, lang=lang)

# %% [markdown] id="admitted-intro"
# **Requests inside the breaker.** Little's law on the 200s (λ = 200s per second, W = mean latency of a 200)
# gives the average number of admitted requests, active + waiting. Without a pending limit it grows with c
# (less the time fortio's threads spend outside Envoy); with it, it stays at or below L.
#
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting envoy.max-connections.queues -->

# %% [markdown] lang="zh"
# **熔断器内的请求数。** 对 200 响应用利特尔法则（λ = 每秒收到的 200 响应数，W = 一个 200
# 响应的平均延迟），可以算出被接纳请求（在途 + 等待中）的平均个数。没有等待上限时，它随 c 增长（要减去
# fortio 线程在 Envoy 之外花掉的时间）；有等待上限时，它不超过 L。
#
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting envoy.max-connections.queues -->

# %% id="admitted-figure"
kit.admitted_figure(seed + pending, theory, lang=lang)

# %% [markdown] id="counters-intro"
# **What tripped.** For every run, fortio's 503 count next to the client sidecar's counters:
# `upstream_rq_pending_overflow` (the pending queue was full) and `upstream_rq_active_overflow`
# (`max_requests` was reached when a request got a connection) both answer 503 UO; `upstream_cx_overflow` (no
# new connection) only makes the request wait.
#
# <!-- claims: envoy.pending.overflow-rejects envoy.max-requests.active-overflow -->
# <!-- claims: envoy.max-connections.queues -->

# %% [markdown] lang="zh"
# **是什么触发了熔断。** 每次压测都把 fortio 统计的 503 数与客户端 sidecar
# 的计数器并列：`upstream_rq_pending_overflow`（等待队列已满）
# 和 `upstream_rq_active_overflow`（请求拿到连接时已达到 `max_requests`）都会返回 503
# UO；`upstream_cx_overflow`（不能再建新连接）只会让请求等待。
#
# <!-- claims: envoy.pending.overflow-rejects envoy.max-requests.active-overflow -->
# <!-- claims: envoy.max-connections.queues -->

# %% id="counters-figure"
display(kit.counters_figure(seed + pending, lang=lang))
kit.checks.every_503_explained(seed + pending, lang=lang)

# %% [markdown] id="predictions-compared"
# **Your predictions, the theory and the runs.** Each one next to what theory expects (for the shares, the
# fast-rejection bound 1 − L/c) and what the runs measured, with what the difference means.

# %% [markdown] lang="zh"
# **你的预测、理论与压测结果。** 每个预测都与理论预期（503 比例取快速拒绝界 1 − L/c）和压测实测并排列出，
# 并说明其中的差别意味着什么。

# %% id="predictions-compare"
seed_limits = kit.limits_for_files([*base, SEED_DR], workers=workers)
display(*cb.verdicts(guesses, seed, pending, c=TOP, seed_limits=seed_limits, pending_limits=limits,
                     lang=lang))

# %% [markdown]
# ### What the runs showed, and why

# %% [markdown] lang="zh"
# ### 压测结果说明了什么，原因何在

# %% id="why-queueing"
cb.why_queueing(seed, pending, lang=lang)

# %% id="why-per-cluster"
cb.why_per_cluster(limits[0], hosts=lab.hosts(CLUSTER), admitted=pending, lang=lang)

# %% id="why-more-than-limit"
route = limits[0]  # the one cluster the route uses
cb.why_more_than_limit(pending, seed=seed, limit=theory.limit, max_connections=int(route.max_connections),
                        workers=workers, hosts=route.endpoints, lang=lang)

# %% id="why-sockets"
cb.why_sockets(seed + pending, lang=lang)

# %% id="why-varies"
cb.why_varies(seed + pending, lang=lang)

# %% [markdown]
# ### Explore
#
# Move the sliders, then press **Run**: nothing runs while you drag. The DR knobs redraw the theory at once;
# Run applies a `DestinationRule` generated from them (validated like a file you wrote), runs fortio once and
# adds the point to the plot. Try `http1MaxPendingRequests` 0 (unset) against 10, `maxConnections` 1, or the
# h2 upgrade (HTTP/2 multiplexes: only `http2MaxRequests` limits requests, the excess is rejected at once).
#
# <!-- claims: envoy.http2.no-queue -->

# %% [markdown] lang="zh"
# ### 探索
#
# 移动滑块，然后按**运行**：拖动滑块时不会运行任何东西。DR 相关的滑块会立即重画理论曲线；
# **运行**会应用由滑块生成的 `DestinationRule`（像你自己写的文件一样经过校验），运行一次
# fortio，并把这个点加到图上。可以试试 `http1MaxPendingRequests` 取 0（未设置）与取 10
# 的对比、`maxConnections` 取 1，或者开启 h2 升级（HTTP/2 多路复用：只有 `http2MaxRequests`
# 限制请求数，超出的请求立即被拒绝）。
#
# <!-- claims: envoy.http2.no-queue -->

# %% id="explorer"
explorer = cb.BreakerExplorer(lab, theory_for=cb.knob_theory([*base, PENDING_DR], workers=workers),
                               knobs=cb.BreakerKnobs(http1_max_pending_requests=10), points=pending,
                               cluster=CLUSTER, applied=cb.BreakerKnobs(http1_max_pending_requests=10),
                               lang=lang)
explorer

# %% [markdown]
# ## Exercise: your own breaker
#
# So far the rules came from the book and from the sliders. Now write one yourself: keep the 503s under 5% at
# c = 30 while no more than 15 requests reach `service-go` at once. Edit the rule in the box (it starts from
# the book's), then press **Check**: the lab validates it like any file you apply (an error points at its
# line and nothing changes), applies it, runs `fortio load -c 30 -n 300` and grades the run against both
# goals. A rule that misses gets a hint aimed at what the run showed; **Next hint** goes one step further.
# **Solution** is for instructors.
#
# To have your answer graded with the notebook (papermill, CI, nbgrader), write it in the next cell as a
# string, or pass it as the parameter `exercise_lab01`.

# %% [markdown] lang="zh"
# ## 练习：你自己的熔断器
#
# 到目前为止，规则都来自书中和滑块。现在请自己写一条：在 c = 30 时让 503 少于 5%，同时同一时刻到达
# `service-go`
# 的请求不超过 15 个。在文本框中修改规则（初始内容是书中的规则），然后按**检查**：实验会像校验你应用的任何文
# 件一样
# 校验它（错误会指向所在的行，而且什么都不会改变），然后应用它，运行 `fortio load -c 30 -n 300`，并按两个目
# 标为
# 这次压测评分。没有达到目标的规则会得到针对这次压测所示问题的提示；**下一条提示**会再深入一步。**参考答案**
# 供教师使用。
#
# 如果要让答案随笔记本一起评分（papermill、CI、nbgrader），请把它以字符串的形式写在下一个单元格中，或者通过
# 参数
# `exercise_lab01` 传入。

# %% id="exercise-answer" tags=["nbgrader-answer"]
answer = params["exercise_lab01"]  # None: start from the box below; or write your rule here (YAML)

# %% id="exercise"
exercise = kit.show_exercise(cb.make_exercise(workers), lab, answer, lang=lang)
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
kit.summary.table(lang=lang)

# %% [markdown]
# ## Step 5: cleanup
#
# The book deletes its three objects by hand. `lab.cleanup()` deletes everything this lab applied and stops
# every process it started (Envoys and service-go); the check looks for any left.

# %% [markdown] lang="zh"
# ## 第 5 步：清理
#
# 书中手动删除它创建的三个对象。`lab.cleanup()` 删除本实验应用过的一切，并停止它启动的每个进程（各个 Envoy
# 和
# service-go）；检查单元格会确认没有任何遗留。

# %% id="cleanup"
lab.cleanup()
kit.checks.cleaned_up(lang=lang)
