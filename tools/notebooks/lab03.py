# Source of labs/03-where-the-limit-lives.ipynb: a jupytext percent script (`# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). A cell's notebook id is its `id="..."`, else its heading's slug.
# After an edit: .venv/bin/python tools/notebooks/generate.py

# %% [markdown] id="title"
# # Where the limit lives: per Envoy cluster, per client proxy, per worker
#
# The book explains its result in one sentence: *"each pod allows 10 concurrent requests, so the total is
# 20"* (每个Pod的并发数为10，所以总的最大并发数就为20). With the book's route (no subsets) that is not why.
# The `DestinationRule`'s limits live in three places the sentence leaves out:
#
# 1. **per Envoy cluster**: every subset the route uses is its own cluster with the **full** limits;
# 2. **per client proxy**: every calling pod's sidecar has its own copy of each cluster and its own breaker,
#    and the server pods' sidecars get the same pool on their inbound side;
# 3. **per worker**: each Envoy worker thread has its own connection pools, so real Envoy may admit a little
#    more than the exact limit.
#
# These three are what people trip on in Istio's issue tracker ("the circuit breaker does not trigger", "more
# requests got through than the limit"). Each step measures one of them on real Envoy and ends with a
# **check** cell that says whether the run showed it.
#
# <!-- claims: istio.pool.inbound-too istio.subsets.own-cluster istio.pool.per-client-proxy -->
# <!-- claims: envoy.pool.per-worker-slack -->

# %% [markdown] lang="zh"
# # 上限在哪里生效：按 Envoy 集群、按客户端代理、按工作线程
#
# 书中用一句话解释结果：*"每个Pod的并发数为10，所以总的最大并发数就为20"*。在书中的路由（没有子集）下，
# 原因并不是这样。`DestinationRule` 的上限生效在这句话没有提到的三个地方：
#
# 1. **按 Envoy 集群**：路由用到的每个子集都是一个独立的集群，各自拥有**完整的**上限；
# 2. **按客户端代理**：每个调用方 pod 的 sidecar 都有自己的一份集群和熔断器，
#    服务端 pod 的 sidecar 在入站方向也得到同样的连接池；
# 3. **按工作线程**：Envoy 的每个工作线程都有自己的连接池，所以真实的 Envoy 可能比精确的上限多接纳一点。
#
# Istio 的 issue 里大家常被这三点绊倒（"熔断器不触发"、"通过的请求比上限多"）。每一步在真实的 Envoy
# 上测量其中一点，最后用一个**检查**单元格说明这次运行是否印证了它。
#
# <!-- claims: istio.pool.inbound-too istio.subsets.own-cluster istio.pool.per-client-proxy -->
# <!-- claims: envoy.pool.per-worker-slack -->

# %% [markdown] id="parameters-intro"
# **Parameters.** CI runs a short version of this notebook by overriding this cell (papermill).

# %% [markdown] lang="zh"
# **参数。** CI 通过覆盖这个单元格（papermill）运行本笔记本的简短版本。

# %% id="parameters" tags=["parameters"]
backend = "embedded"  # "embedded": real Envoys on 127.0.0.1; "kind": a kind cluster with Istio
concurrency = [10, 20, 30, 40, 60]  # Step 1: fortio -c values for each route
calls_per_thread = 10  # fortio -n = 10 × c, as in the book
repeats = 1  # Step 1: runs per concurrency and route
client_counts = [1, 2, 3]  # Step 2: how many client pods run at once
client_concurrency = 20  # Step 2: fortio -c of each client pod
worker_counts = [1, 2, 4]  # Step 3: Envoy workers of the client sidecar
worker_concurrency = 40  # Step 3: fortio -c
worker_repeats = 2  # Step 3: runs per worker count
workers = 2  # Envoy workers of every other sidecar (Istio's for its default 2-CPU sidecar limit)
run_explorer = True  # Step 4: run the explorer once with its start values
lang = "en"  # the language of the lab's run-time text: "en" or "zh" (labs/zh/ sets "zh")
predict_fewest_503 = None  # your predictions (None: type them in the boxes, or skip)
predict_first_subset = None
exercise_lab03 = None  # your rule for the exercise, as YAML text (None: write it in the box)

# %% id="read-parameters"
from lablib.labs import read_parameters

params = read_parameters(globals(), lab="03")  # typed; a wrong value: a ParameterError, no traceback

# %% id="imports"
import shutil
import tempfile
from pathlib import Path

import lablib.notebook as kit
from lablib.i18n import t
from lablib.lab import Lab
from lablib.labs import where_the_limit_lives as limits
from lablib.labs.where_the_limit_lives import checks, plots
from lablib.labs.where_the_limit_lives.widgets import LimitsExplorer

kit.set_language(lang)  # lablib's errors and warnings in the notebook's language, without tracebacks

# %% id="start-lab"
lab = Lab(backend=backend, workers=workers)
WORK = Path(tempfile.mkdtemp(prefix="lab03-"))  # the manifests this notebook writes (removed at cleanup)
for path in (limits.mesh.SERVICE, kit.MANIFESTS / "kubernetes/fortio.yaml", limits.RULE):
    lab.apply(path)

# %% [markdown] id="predict-intro"
# **Predict before you measure.** Step 1 loads the same two pods through three routes: the book's (no
# subsets), 50/50 over subsets `v1` and `v2`, and 90/10. Before it explains the difference, lock in two
# answers about its highest concurrency: which route answers the fewest 503s, and, under 90/10, whose
# cluster overflows first. A box left empty is skipped; after Step 1's runs each answer stands next to the
# theory and the measurement. (papermill and CI pass them as `predict_fewest_503` and
# `predict_first_subset`.)

# %% [markdown] lang="zh"
# **先预测，再测量。** 第 1 步通过三个路由对同样的两个 pod 施加负载：书中的路由（没有子集）、在子集 `v1` 和
# `v2`
# 之间 50/50 分配的路由，以及 90/10 的路由。在解释差别之前，先就其中最高的并发锁定两个答案：哪个路由返回的
# 503
# 最少；在 90/10 下，谁的集群先溢出。留空的预测算作跳过；第 1 步压测之后，每个答案都会与理论和实测并排列出。
# （papermill 和 CI 通过参数 `predict_fewest_503` 和 `predict_first_subset` 传入。）

# %% id="predict"
TOP = max(concurrency)  # the predictions are about the sweep's highest -c
guesses = {key: kit.ask(limits.PREDICTIONS[key], params[f"predict_{key}"], c=TOP, lang=lang)
           for key in ("fewest_503", "first_subset")}
display(*guesses.values())

# %% [markdown]
# ## Step 1: per Envoy cluster
#
# The rule is the book's with `http1MaxPendingRequests: 10` (`destination-rule-go-cb-pending.yaml`): at most
# 10 requests in flight and 10 waiting, **per Envoy cluster**. Three routes to the same two pods:
#
# * `none`, the book's `virtual-service-go.yaml`: no subsets, so **one** cluster
#   `outbound|80||service-go…` whose two hosts are the two pods. L = 10 in flight + 10 waiting = 20, shared
#   by both pods (about 5 in flight each);
# * `50-50`, `virtual-service-go-v1-v2-50.yaml`: two clusters `outbound|80|v1|…` and `outbound|80|v2|…`,
#   each with the full 10 + 10: L = 40;
# * `90-10`, `virtual-service-go-v1-v2-90-10.yaml`: the same two clusters, but v1 gets 90% of the calls
#   against the same 10 + 10 as v2, so v1 is full long before v2: 503s start near c ≈ 20 / 0.9 ≈ 22.
#
# The table is what theory reads from the translated Envoy config:
#
# <!-- claims: istio.route.no-subset-one-cluster istio.subsets.own-cluster -->
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting -->

# %% [markdown] lang="zh"
# ## 第 1 步：按 Envoy 集群
#
# 规则是书中的规则加上 `http1MaxPendingRequests: 10`（`destination-rule-go-cb-pending.yaml`）：**每个
# Envoy 集群**最多 10 个在途请求、10 个等待中的请求。三个路由，指向同样的两个 pod：
#
# * `none`，书中的 `virtual-service-go.yaml`：没有子集，所以只有**一个**集群
#   `outbound|80||service-go…`，它的两个实例就是两个 pod。L = 10 个在途 + 10 个等待 = 20，由两个 pod
#   共享（每个大约 5 个在途）；
# * `50-50`，`virtual-service-go-v1-v2-50.yaml`：两个集群 `outbound|80|v1|…` 和 `outbound|80|v2|…`，
#   各自拥有完整的 10 + 10：L = 40；
# * `90-10`，`virtual-service-go-v1-v2-90-10.yaml`：同样两个集群，但 v1 承担 90% 的调用，
#   而上限与 v2 一样是 10 + 10，所以 v1 远早于 v2 被占满：503 从 c ≈ 20 / 0.9 ≈ 22 附近开始出现。
#
# 下表是理论从翻译后的 Envoy 配置中读出的上限：
#
# <!-- claims: istio.route.no-subset-one-cluster istio.subsets.own-cluster -->
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting -->

# %% id="route-limits"
by_route = {route: limits.route_limits(route, workers=workers) for route in limits.ROUTES}
kit.limits_table(by_route, lang=lang)

# %% [markdown] id="routes-intro"
# Now the same sweep under each route (the counters are reset before every run):

# %% [markdown] lang="zh"
# 现在在每个路由下做同样的扫描（每次运行前都会重置计数器）：

# %% id="routes-sweep"
routes = limits.routes_sweep(lab, list(limits.ROUTES), concurrency, repeats=repeats, lang=lang,
                             calls_per_thread=calls_per_thread,
                             progress=kit.progress_bar(t("lab03.progress.routes", lang), lang=lang))
plots.routes_figure(routes, by_route, lang=lang)

# %% [markdown] id="routes-where"
# Where the 503s came from: each cluster's own counters in the fortio pod's sidecar.
#
# <!-- claims: istio.subsets.own-cluster -->

# %% [markdown] lang="zh"
# 503 来自哪里：fortio pod 的 sidecar 中每个集群自己的计数器。
#
# <!-- claims: istio.subsets.own-cluster -->

# %% id="routes-table"
plots.clusters_table(routes, lang=lang)

# %% id="check-per-cluster"
checks.limit_per_cluster(routes, lang=lang)

# %% id="predictions-compare"
display(*limits.verdicts(guesses, routes, by_route, lang=lang))  # your predictions, theory, the runs

# %% [markdown] id="when-the-book-is-right"
# **When is the book's sentence right?** Its number, 20, is right for its route, but not its reason: there is
# one cluster, and its 20 is 10 in flight plus 10 waiting, shared by both pods. "Each pod allows 10, so 20" is
# literally true only when each pod sits behind its own Envoy cluster, as under the 50/50 route (one pod per
# subset), and there the client admits 40, since each cluster also has its own 10 waiting. With two pods per
# subset the per-pod share halves again: the limit follows the Envoy cluster, never the pod.
#
# <!-- claims: istio.route.no-subset-one-cluster istio.subsets.own-cluster -->
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting -->

# %% [markdown] lang="zh"
# **书中那句话什么时候是对的？** 它的数字 20 对它的路由来说是对的，但理由不对：只有一个集群，它的 20 是
# 10 个在途加 10 个等待，由两个 pod 共享。"每个 pod 10 个，所以 20 个"只有在每个 pod
# 各自位于一个独立的 Envoy 集群之后时才字面成立，比如 50/50 路由（每个子集一个 pod）；而那时客户端接纳的是
# 40 个，因为每个集群还各有 10 个等待名额。如果每个子集有两个 pod，每个 pod 分到的又减半：上限跟随 Envoy
# 集群，而不是 pod。
#
# <!-- claims: istio.route.no-subset-one-cluster istio.subsets.own-cluster -->
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting -->

# %% [markdown]
# ## Step 2: per client proxy
#
# A second and a third fortio pod (`manifests/kubernetes/fortio-2.yaml` and a copy) get their own client
# sidecars, each with its own copy of every cluster and breaker. Under the 50/50 route, every client at c =
# 20, all at the same time (`lab.fortio_many`). Each client admits its own 10 in flight per subset, so a
# server pod sees more than "the limit". The only guard every caller shares is on the server side: Istio also
# puts the rule's `connectionPool` on each server sidecar's `inbound|80||` cluster, so each pod lets 10 into
# its app and queues 10 at its sidecar. Two clients bring each pod exactly that much (the per-worker slack of
# Step 3 may push a few over); three exceed it. The bars show the most requests each server sidecar held at
# once (in the app plus queued there), sampled during the runs.
#
# <!-- claims: istio.pool.inbound-too istio.pool.per-client-proxy -->

# %% [markdown] lang="zh"
# ## 第 2 步：按客户端代理
#
# 第二、第三个 fortio pod（`manifests/kubernetes/fortio-2.yaml` 及其副本）各有自己的客户端 sidecar，
# 每个都有自己的一份集群和熔断器。在 50/50 路由下，每个客户端以 c = 20 同时运行（`lab.fortio_many`）。
# 每个客户端对每个子集各自接纳 10 个在途请求，所以服务端 pod 看到的比"上限"多。所有调用方共享的唯一防线在
# 服务端：Istio 也把规则的 `connectionPool` 放到每个服务端 sidecar 的 `inbound|80||` 集群上，所以每个 pod
# 只让 10 个请求进入应用，另外 10 个在它的 sidecar 排队。两个客户端恰好给每个 pod 带来这么多（第 3
# 步的按工作线程余量可能让少数请求超出）；三个客户端则超过它。柱子显示每个服务端 sidecar
# 同时持有的最多请求数（应用中加上在那里排队的），在运行期间采样得到。
#
# <!-- claims: istio.pool.inbound-too istio.pool.per-client-proxy -->

# %% [markdown] id="no-ejection"
# For this step the rule loses its `outlierDetection`: a server sidecar's overflow reaches the client as an
# upstream 503, and three in a row from one pod (`consecutive5xxErrors: 3`) would eject that pod for 3
# minutes, hiding the limits behind `503 UH`. (A client's own overflow never counts there, not even an
# `http2MaxRequests` overflow, which happens after a host was chosen: the router does not report a request it
# dropped itself to the outlier detector, envoyproxy/envoy#25488.)
#
# <!-- claims: envoy.outlier.server-overflow-counts envoy.outlier.client-overflow-not-counted -->
# <!-- claims: istio.pool.inbound-too -->

# %% [markdown] lang="zh"
# 这一步的规则去掉了 `outlierDetection`：服务端 sidecar 的溢出会以上游 503 的形式到达客户端，
# 同一个 pod 连续三次（`consecutive5xxErrors: 3`）就会让它被驱逐 3 分钟，上限就会被 `503 UH` 掩盖。
# （客户端自己的溢出从不计入，`http2MaxRequests` 溢出也不例外，尽管它发生在选定实例之后：对于自己丢弃的
# 请求，路由器不会报告给异常检测器，见 envoyproxy/envoy#25488。）
#
# <!-- claims: envoy.outlier.server-overflow-counts envoy.outlier.client-overflow-not-counted -->
# <!-- claims: istio.pool.inbound-too -->

# %% id="clients-rule"
lab.apply(rule := limits.rule_without_ejection(WORK))
limits.use_route(lab, "50-50")

# %% id="clients-sweep"
clients = limits.clients_sweep(lab, client_counts, client_concurrency, directory=WORK, lang=lang,
                               calls_per_thread=calls_per_thread,
                               progress=kit.progress_bar(t("lab03.progress.clients", lang), lang=lang))
pool = by_route["50-50"][0]  # one subset's pool: the same numbers land on each server sidecar
plots.clients_figure(clients, one_client_in_flight=pool.in_flight, server_limit=pool.admitted, lang=lang)

# %% id="check-per-client"
checks.limit_per_client(clients, in_flight=pool.in_flight, lang=lang)

# %% [markdown] id="server-counters"
# The server sidecar's own counters, read from the sidecar of pod `service-go-v1-0` after the last run (every
# client at once): its `inbound|80||` overflows are the 503s no client's breaker made.
#
# <!-- claims: istio.pool.inbound-too -->

# %% [markdown] lang="zh"
# 服务端 sidecar 自己的计数器，在最后一次运行（所有客户端同时）之后从 pod `service-go-v1-0` 的 sidecar
# 读取：它的 `inbound|80||` 溢出就是那些不是由任何客户端熔断器产生的 503。
#
# <!-- claims: istio.pool.inbound-too -->

# %% id="server-stats"
lab.stats("inbound|80||", pod="service-go-v1-0").overflows

# %% id="check-server"
checks.server_guard_trips(clients, lang=lang)

# %% [markdown]
# ## Step 3: per worker
#
# Istio sets a sidecar's Envoy worker threads per pod with the annotation `proxy.istio.io/config:
# concurrency: N` (ProxyConfig `concurrency`; 0 means every core). Unset, Istio 1.30's pilot-agent uses the
# sidecar container's CPU limit, rounded up: 2 under Istio's default sidecar limit of 2 CPUs (`2000m`), and
# the node's allocatable CPUs when the container has no limit (that is what Kubernetes reports for it then).
# The embedded lab sets no CPU limits: there, unset means the lab's `workers`, 2 by default, as Istio would
# give a sidecar with its default limit.
# Each worker has its own connection pool per host, and a pool with no connection may always open one, so
# real Envoy may open up to
# `maxConnections + hosts × workers` connections. Those extra requests only get in when `http2MaxRequests`
# does not reject them, so this step uses a rule with `maxConnections: 10` and `http1MaxPendingRequests: 10`
# only (the book's route: one cluster).
# The client pods `fortio-w1`, `fortio-w2` and `fortio-w4` start together, with 1, 2 and 4 workers; the
# band is what theory allows for each.
#
# <!-- claims: istio.proxy.concurrency-from-cpu-limit envoy.pool.per-worker-slack -->
# <!-- claims: istio.proxy-config.concurrency-sets-workers -->

# %% [markdown] lang="zh"
# ## 第 3 步：按工作线程
#
# Istio 用注解 `proxy.istio.io/config: concurrency: N`（ProxyConfig 的 `concurrency`；0 表示使用所有核）
# 为每个 pod 设置 sidecar 中 Envoy 的工作线程数。不设置时，Istio 1.30 的 pilot-agent 取 sidecar 容器的
# CPU limit 并向上取整：Istio 默认给 sidecar 的 limit 是 2 个 CPU（`2000m`），于是得到 2；容器没有 limit
# 时则是节点可分配的 CPU 数（这时 Kubernetes 报告的就是它）。嵌入式实验不设置 CPU limit：在这里不设置就
# 等于实验的 `workers`，默认为 2，与 Istio 给带默认 limit 的 sidecar 的值相同。
# 每个工作线程对每个实例都有自己的连接池，
# 而没有连接的连接池总可以新建一个，所以真实的 Envoy 最多可能打开 `maxConnections + 实例数 × 工作线程数`
# 个连接。只有当 `http2MaxRequests` 不拒绝这些多出来的请求时它们才会被接纳，所以这一步使用只有
# `maxConnections: 10` 和 `http1MaxPendingRequests: 10` 的规则。客户端 pod `fortio-w1`、`fortio-w2`、
# `fortio-w4` 同时启动，分别有 1、2、4 个工作线程；区间是理论对每种情况允许的范围。
#
# <!-- claims: istio.proxy.concurrency-from-cpu-limit envoy.pool.per-worker-slack -->
# <!-- claims: istio.proxy-config.concurrency-sets-workers -->

# %% id="workers-sweep"
lab.apply(worker_rule := limits.worker_rule(WORK))
limits.use_route(lab, "none")
by_workers = limits.workers_sweep(lab, worker_counts, worker_concurrency, directory=WORK, lang=lang,
                                  repeats=worker_repeats, calls_per_thread=calls_per_thread,
                                  progress=kit.progress_bar(t("lab03.progress.workers", lang), lang=lang))

# %% id="workers-figure"
bands = {w: limits.route_limits("none", workers=w, rule=worker_rule) for w in worker_counts}
plots.workers_figure(by_workers, bands, lang=lang)

# %% id="check-workers"
checks.within_worker_band(by_workers, bands, lang=lang)

# %% [markdown]
# ## Step 4: explorer
#
# Pick a route, the number of client pods, each one's concurrency and the Envoy workers of their sidecars,
# then press **Run**: every client runs at once and the point lands on its setting's trace. The rule is Step
# 2's again (the book's 10 in flight + 10 waiting per cluster, without `outlierDetection`).
#
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting -->

# %% [markdown] lang="zh"
# ## 第 4 步：探索器
#
# 选择路由、客户端 pod 数、每个客户端的并发数以及它们 sidecar 的 Envoy 工作线程数，然后按 **Run**：
# 所有客户端同时运行，结果点落在该设置对应的曲线上。规则恢复为第 2 步的规则（书中每个集群 10 个在途 + 10
# 个等待，去掉 `outlierDetection`）。
#
# <!-- claims: envoy.breaker.limit-in-flight-plus-waiting -->

# %% id="explorer"
lab.apply(rule)
explorer = LimitsExplorer(lab, directory=WORK, calls_per_thread=calls_per_thread, lang=lang)
explorer

# %% id="check-explorer"
if run_explorer and not explorer.runs:
    explorer.run()  # the start values, so the check below has a run to judge
checks.explorer_ran(explorer.runs, lang=lang)

# %% [markdown]
# ## Exercise: a limit of its own for v2
#
# Now write the rule yourself: give subset `v2` its own limit of 5 requests in flight without changing
# `v1`'s (10 in flight, 10 waiting). Edit the rule in the box (it starts from Step 2's), then press
# **Check**: the lab validates it (an error points at its line and nothing changes), applies it with the
# 50/50 route, runs fortio at c = 40 and grades each subset's cluster, by the theory and by what its sidecar
# held at once. A rule that misses gets a hint aimed at what the run showed; **Next hint** goes one step
# further. **Solution** is for instructors.
#
# To have your answer graded with the notebook (papermill, CI, nbgrader), write it in the next cell as a
# string, or pass it as the parameter `exercise_lab03`.

# %% [markdown] lang="zh"
# ## 练习：给 v2 一个自己的上限
#
# 现在请自己写规则：让子集 `v2` 拥有自己的上限，即 5 个在途请求，同时不改变 `v1` 的上限（10 个在途、10 个
# 等待）。在文本框中修改规则（初始内容是第 2 步的规则），然后按**检查**：实验会校验它（错误会指向所在的行，
# 而且
# 什么都不会改变），在 50/50 路由下应用它，以 c = 40 运行 fortio，并根据理论和 sidecar 同一时刻持有的请求数
# 为
# 每个子集的集群评分。没有达到目标的规则会得到针对这次压测所示问题的提示；**下一条提示**会再深入一步。**参考
# 答案**
# 供教师使用。
#
# 如果要让答案随笔记本一起评分（papermill、CI、nbgrader），请把它以字符串的形式写在下一个单元格中，或者通过
# 参数
# `exercise_lab03` 传入。

# %% id="exercise-answer" tags=["nbgrader-answer"]
answer = params["exercise_lab03"]  # None: start from the box below; or write your rule here (YAML)

# %% id="exercise"
exercise = kit.show_exercise(limits.make_exercise(workers), lab, answer, lang=lang, directory=WORK)
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
# `lab.cleanup()` deletes everything this lab applied and stops every process it started (all the sidecars,
# the client pods' included, and the service-go pods); the notebook's manifests are removed too.

# %% [markdown] lang="zh"
# ## 第 5 步：清理
#
# `lab.cleanup()` 删除本实验应用过的一切，并停止它启动的每个进程（所有 sidecar，包括客户端 pod 的，以及
# service-go pod）；笔记本写下的清单文件也会删除。

# %% id="cleanup"
lab.cleanup()
shutil.rmtree(WORK, ignore_errors=True)
kit.checks.cleaned_up(lang=lang)
