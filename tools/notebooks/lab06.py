# Source of labs/06-the-server-protects-itself.ipynb: a jupytext percent script (`# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). A cell's notebook id is its `id="..."`, else its heading's slug.
# After an edit: .venv/bin/python tools/notebooks/generate.py

# %% [markdown] id="title"
# # The server protects itself: a limit of its own, HTTP/2 and gRPC, and reading the breaker in a real mesh
#
# Lab 03 showed that a `DestinationRule`'s limits live in each **client** sidecar: three callers admit three
# times the limit. The server sidecar gets the same pool on its inbound side, so the rule you write for the
# clients is also, by accident, the server's limit. This lab gives the server a limit of **its own**, with
# the `Sidecar` resource's `inboundConnectionPool` (Istio 1.21 and later), watches it hold while clients are
# added, shows what its 503s do to the clients' outlier detection, puts the same breaker in front of an
# HTTP/2 and a gRPC service (where `maxConnections` stops limiting requests, and an overflow is no longer a
# 503), and then reads the breaker the way you would on a real cluster: `istioctl proxy-config`, the
# sidecar's counters (which Istio hides by default), and the response flags of the access log. Each step
# ends with a **check** cell.
#
# <!-- claims: istio.sidecar.inbound-pool-replaces-dr istio.pool.inbound-too -->

# %% [markdown] lang="zh"
# # 服务端保护自己：自己的上限、HTTP/2 与 gRPC，以及在真实网格中读懂熔断器
#
# 实验 03 表明 `DestinationRule` 的上限生效在每个**客户端** sidecar 中：三个调用方接纳三倍的上限。服务端
# sidecar 在入站方向也得到同样的连接池，所以你为客户端写的规则，碰巧也成了服务端的上限。本实验用 `Sidecar`
# 资源的 `inboundConnectionPool`（Istio 1.21 及以后）给服务端一个**它自己的**上限，观察它在客户端增加时
# 如何守住，看它的 503 对客户端的异常检测做了什么，把同样的熔断器放到一个 HTTP/2 服务和一个 gRPC 服务
# 前面（在那里 `maxConnections` 不再限制请求，溢出也不再是 503），然后像在真实集群上那样读懂熔断器：
# `istioctl proxy-config`、sidecar 的计数器（Istio 默认把它们隐藏），以及访问日志中的响应标志。每一步最后
# 都有一个**检查**单元格。
#
# <!-- claims: istio.sidecar.inbound-pool-replaces-dr istio.pool.inbound-too -->

# %% [markdown] id="parameters-intro"
# **Parameters.** CI runs a short version of this notebook by overriding this cell (papermill).

# %% [markdown] lang="zh"
# **参数。** CI 通过覆盖这个单元格（papermill）运行本笔记本的简短版本。

# %% id="parameters" tags=["parameters"]
backend = "embedded"  # "embedded": real Envoys on 127.0.0.1; "kind": a kind cluster with Istio
client_counts = [1, 2, 3]  # Step 1: how many client pods run at once
concurrency = 20  # fortio -c of each client pod: twice what each client sidecar lets through
calls_per_thread = 10  # fortio -n = 10 × c, as in the book
server_limit = 15  # the server's own limit: the Sidecar's inboundConnectionPool http2MaxRequests
service_time_ms = 100  # how long service-go takes per call (long enough for requests to pile up)
warm_runs = 1  # Steps 2 and 3: runs after the first (cold) one of each rule, once the connections are up
run_explorer = True  # Step 5: run the explorer once with its start values
predict_server_peak = None  # your prediction for Step 1 (papermill and CI set it; None: ask in the widget)
predict_h2_share = None  # Step 2: your prediction, % of calls that get 503 (None: ask in the widget)
predict_grpc_status = None  # Step 3: your prediction, e.g. "UNAVAILABLE" (None: ask in the widget)
lang = "en"  # the language of the lab's run-time text: "en" or "zh" (labs/zh/ sets "zh")

# %% id="read-parameters"
from lablib.labs import read_parameters

params = read_parameters(globals(), lab="06")  # typed; a wrong value: a ParameterError, no traceback

# %% id="imports"
import shutil
import tempfile
import time
from pathlib import Path

import lablib.notebook as kit
from lablib.i18n import t
from lablib.lab import Lab
from lablib.labs import the_server_protects_itself as guard
from lablib.labs.the_server_protects_itself import checks, plots, predictions, protocols, reading
from lablib.labs.the_server_protects_itself.widgets import ServerExplorer

kit.set_language(lang)  # lablib's errors and warnings in the notebook's language, without tracebacks

# %% id="start-lab"
lab = Lab(backend=backend, service_time_ms=service_time_ms)
WORK = Path(tempfile.mkdtemp(prefix="lab06-"))  # the manifests this notebook writes (removed at cleanup)
for path in (guard.SERVER, kit.MANIFESTS / "kubernetes/fortio.yaml", guard.client_rule(WORK, lang=lang)):
    lab.apply(path)
plots.shown_file((WORK / "destination-rule-go-clients.yaml").read_text())

# %% [markdown] id="predict-intro"
# **Predict before you measure.** Three client pods will run at once, each allowed 10 requests in flight by
# the rule above, and the server's own limit will be `server_limit`. How many requests will the server
# sidecar let into its app at once, at most? Lock in a number (or leave it empty to skip); Step 1 puts it
# next to the theory and the measurement.

# %% [markdown] lang="zh"
# **先预测，再测量。** 三个客户端 pod 将同时运行，上面的规则允许每个客户端有 10 个在途请求，而服务端自己的
# 上限是 `server_limit`。服务端 sidecar 同时最多会把多少个请求放进应用？锁定一个数字（或者留空跳过）；第 1 步
# 会把它和理论值、测量值并排列出。

# %% id="predict"
guess = kit.ask(predictions.PREDICTIONS["server_peak"], params["predict_server_peak"], limit=server_limit,
                clients=max(client_counts), lang=lang)
guess

# %% [markdown]
# ## Step 1: a limit of the server's own
#
# The `Sidecar` resource configures the proxy of the workloads it selects. Since **Istio 1.21** it has
# `inboundConnectionPool` (and, per port, `ingress[].connectionPool`): the pool of that proxy's own
# `inbound|<port>||` cluster. Istio builds the server's inbound cluster from the `DestinationRule` first, then
# **replaces** its whole `connectionPool` with the Sidecar's (a port's own pool wins over the top-level one).
# The clients keep the rule's pool; the server gets its own. The lab's Sidecar:
#
# ```yaml
# apiVersion: networking.istio.io/v1
# kind: Sidecar
# metadata: {name: service-go}
# spec:
#   workloadSelector: {labels: {app: service-go}}
#   inboundConnectionPool:
#     http: {http2MaxRequests: 15}
# ```
#
# One server pod, and 1, 2, then 3 client pods at once, under three server settings: no Sidecar (the server
# gets the clients' pool, 10 in flight + 10 waiting), the Sidecar above, and a Sidecar whose pool is larger
# than anything we send (the server has no limit of its own).
#
# <!-- claims: istio.sidecar.inbound-pool-replaces-dr istio.sidecar.since-1-21 istio.pool.inbound-too -->
# <!-- claims: istio.pool.per-client-proxy -->

# %% [markdown] lang="zh"
# ## 第 1 步：服务端自己的上限
#
# `Sidecar` 资源配置它所选中的工作负载的代理。从 **Istio 1.21** 起它有 `inboundConnectionPool`（以及按端口的
# `ingress[].connectionPool`）：这个代理自己的 `inbound|<端口>||` 集群的连接池。Istio 先按
# `DestinationRule` 构建服务端的入站集群，然后用 Sidecar 的连接池**替换**它的整个 `connectionPool`
# （端口自己的连接池优先于顶层的）。客户端保留规则的连接池；服务端得到它自己的。本实验的 Sidecar：
#
# ```yaml
# apiVersion: networking.istio.io/v1
# kind: Sidecar
# metadata: {name: service-go}
# spec:
#   workloadSelector: {labels: {app: service-go}}
#   inboundConnectionPool:
#     http: {http2MaxRequests: 15}
# ```
#
# 一个服务端 pod，依次让 1、2、3 个客户端 pod 同时运行，分别在三种服务端设置下：没有 Sidecar（服务端得到
# 客户端的连接池，10 个在途 + 10 个等待）、上面的 Sidecar，以及连接池比我们发送的任何负载都大的 Sidecar
# （服务端没有自己的上限）。
#
# <!-- claims: istio.sidecar.inbound-pool-replaces-dr istio.sidecar.since-1-21 istio.pool.inbound-too -->
# <!-- claims: istio.pool.per-client-proxy -->

# %% id="server-sweep"
settings = [guard.DR_ONLY, server_limit, guard.UNLIMITED]
sweep = guard.server_sweep(lab, client_counts, settings, concurrency, directory=WORK, lang=lang,
                           calls_per_thread=calls_per_thread,
                           progress=kit.progress_bar(t("lab06.progress.sweep", lang), lang=lang))
plots.server_figure(sweep, server_limit=server_limit, lang=lang)

# %% [markdown] id="check-server-intro"
# The dashed line is what the clients' sidecars let through at once (each its own 10): it grows with every
# client. With its own limit the server sidecar lets at most `server_limit` requests into its app at once,
# however many clients call (a request waiting at it for a connection to the app is not counted against this
# limit; `http1MaxPendingRequests` bounds those). For a moment it may be one more per other Envoy worker of
# that sidecar: Envoy checks a limit and then counts the request, two steps on a count its workers share,
# so two workers can pass the check together (its source: resources may "temporarily go above the supplied
# maximums"); the check allows that. What does not fit is refused by the **server** sidecar, on
# its own `inbound|80||` counters, and reaches the clients as a 503 from upstream (no flag of theirs,
# `x-envoy-overloaded: true`). Without a limit of its own it lets in whatever the clients admit.
#
# <!-- claims: istio.sidecar.server-limit-holds envoy.overflow.server-503-upstream -->
# <!-- claims: envoy.breaker.check-then-increment -->

# %% [markdown] lang="zh"
# 虚线是客户端 sidecar 同时接纳的请求（每个各接纳 10 个）：每增加一个客户端它就增长。有了自己的上限，
# 无论多少客户端调用，服务端 sidecar 同时放进应用的请求都不超过 `server_limit`（在它那里等待连接到应用的
# 请求不计入这个上限，由 `http1MaxPendingRequests` 约束）。瞬间可能多出几个，每多一个该 sidecar 的其他
# Envoy 工作线程就最多多一个：Envoy 先检查上限、再给请求计数，这两步作用在各工作线程共享的计数上，两个
# 工作线程可能同时通过检查（它的源码说资源可能“暂时超过设定的最大值”）；检查允许这一点。放不下的请求由
# **服务端** sidecar 拒绝，计入它
# 自己的 `inbound|80||` 计数器，并以来自上游的 503 到达客户端（客户端自己没有标志，带
# `x-envoy-overloaded: true`）。没有自己的上限时，它放进客户端接纳的全部请求。
#
# <!-- claims: istio.sidecar.server-limit-holds envoy.overflow.server-503-upstream -->
# <!-- claims: envoy.breaker.check-then-increment -->

# %% id="check-server"
checks.all_of(t("lab06.check.step1", lang),
              [checks.clients_admit_more(sweep[server_limit], lang=lang),
               checks.server_limit_holds(sweep[server_limit], server_limit, lang=lang),
               checks.server_follows_clients(sweep[guard.UNLIMITED], server_limit, lang=lang)], lang=lang)

# %% id="predictions-compare"
display(*predictions.verdicts({"server_peak": guess}, sweep[server_limit], server_limit, lang=lang))

# %% [markdown] id="outlier-intro"
# **What a server's 503 does to the clients' outlier detection.** To a client, the server sidecar's
# overflow is the host's answer: a 5xx like any other, so it **counts** (lab 02, Step 10; only a client's
# own overflow does not). Add lab 02's `outlierDetection` to the clients' rule and run the three clients
# against the limited server: each client counts the 503s, ejects the one server pod after three in a row,
# and then answers every call with its own 503 "no healthy upstream" (UH) until the ejection ends. A server
# that protects itself this way gets itself ejected by its busiest clients.
#
# <!-- claims: envoy.outlier.server-overflow-counts envoy.outlier.all-ejected-uh -->

# %% [markdown] lang="zh"
# **服务端的 503 对客户端的异常检测做了什么。** 对客户端来说，服务端 sidecar 的溢出就是这个实例的应答：
# 和其他 5xx 一样，所以它**会计数**（实验 02 第 10 步；只有客户端自己的溢出不计数）。把实验 02 的
# `outlierDetection` 加到客户端的规则中，让三个客户端对有上限的服务端运行：每个客户端都统计这些 503，
# 连续三个之后驱逐唯一的服务端 pod，然后在驱逐结束之前对每个调用都用它自己的 503 “no healthy upstream”
# （UH）应答。这样保护自己的服务端，会被它最繁忙的客户端驱逐。
#
# <!-- claims: envoy.outlier.server-overflow-counts envoy.outlier.all-ejected-uh -->

# %% id="outlier"
guard.apply_server_limit(lab, server_limit, directory=WORK)
pods = guard.client_names(max(client_counts))
ejected = guard.outlier_run(lab, pods, concurrency, limit=server_limit, directory=WORK,
                            calls_per_thread=calls_per_thread)
checks.ejected_by_clients(ejected.ejections, ejected.none_healthy, ejected.run.upstream_503, lang=lang)

# %% [markdown] id="step-2-http2"
# ## Step 2: HTTP/2, one connection for many requests
#
# fortio's `-h2` speaks HTTP/2 to its sidecar, but what a sidecar speaks **upstream** is Istio's choice, made
# from the Service port: a port named `http2` or `grpc` (or `http2-…`, `grpc-…`, or with that `appProtocol`)
# makes both the clients' outbound cluster and the server pod's own inbound cluster talk HTTP/2; a port named
# `http` stays HTTP/1.1 unless the DestinationRule says `h2UpgradePolicy: UPGRADE` (which changes the
# clients' side only); an unnamed port uses whatever the client spoke. `service-go-h2.yaml` is the same app
# (it also answers HTTP/2 without TLS) behind a port named `http2`:
#
# ```yaml
#   ports:
#   - name: http2
#     port: 80
# ```
#
# The cell below applies it and shows both sides as `istioctl proxy-config cluster` does:
# `http2ProtocolOptions`. On HTTP/1.1 a connection carries one request at a time, so `maxConnections` caps
# the requests in flight (lab 01); on HTTP/2 one connection carries many at once.
#
# <!-- claims: istio.port-protocol.http2-upstream envoy.http1.one-request-per-connection -->

# %% [markdown] lang="zh"
# ## 第 2 步：HTTP/2，一个连接承载许多请求
#
# fortio 的 `-h2` 用 HTTP/2 与它的 sidecar 通信，但 sidecar 与**上游**用什么协议通信由 Istio 决定，依据是
# Service 的端口：名为 `http2` 或 `grpc` 的端口（或 `http2-…`、`grpc-…`，或有这样的 `appProtocol`）让客户端
# 的出站集群和服务端 pod 自己的入站集群都以 HTTP/2 通信；名为 `http` 的端口保持 HTTP/1.1，除非
# DestinationRule 写了 `h2UpgradePolicy: UPGRADE`（它只改变客户端一侧）；没有名字的端口沿用客户端所用的
# 协议。`service-go-h2.yaml` 是同一个应用（它也能应答不带 TLS 的 HTTP/2），放在名为 `http2` 的端口后面：
#
# ```yaml
#   ports:
#   - name: http2
#     port: 80
# ```
#
# 下面的单元格应用它，并像 `istioctl proxy-config cluster` 那样显示两侧：`http2ProtocolOptions`。在
# HTTP/1.1 上一个连接一次只承载一个请求，所以 `maxConnections` 限制了在途请求（实验 01）；在 HTTP/2 上
# 一个连接同时承载许多请求。
#
# <!-- claims: istio.port-protocol.http2-upstream envoy.http1.one-request-per-connection -->

# %% id="h2-server"
lab.apply(protocols.H2_SERVER)
plots.shown_file(protocols.upstream_view(lab, protocols.H2_HOST))

# %% [markdown] id="h2-predict-intro"
# **Predict before you measure.** This step applies three rules to `service-go-h2` in turn and runs
# `fortio load -h2` under each with `concurrency` threads (20), the first rule being `maxConnections: 1`.
# What share of the calls will get 503 under it? Lock in a percentage (parameter `predict_h2_share`; leave
# it empty to skip).

# %% [markdown] lang="zh"
# **先预测，再测量。** 本步依次把三条规则应用到 `service-go-h2`，并在每条规则下以 `concurrency` 个线程
# （20）运行 `fortio load -h2`，第一条规则是 `maxConnections: 1`。在它之下，多大比例的调用会得到 503？
# 锁定一个百分比（参数 `predict_h2_share`；留空则跳过）。

# %% id="h2-predict"
guess_h2 = kit.ask(predictions.PREDICTIONS["h2_share"], params["predict_h2_share"], c=concurrency, lang=lang)
guess_h2

# %% id="h2-runs"
h2 = protocols.h2_runs(lab, concurrency, directory=WORK, calls_per_thread=calls_per_thread,
                       warm_runs=warm_runs, lang=lang,
                       progress=kit.progress_bar(t("lab06.progress.h2", lang), lang=lang))
plots.protocol_table(protocols.every_run(h2), lang=lang)

# %% [markdown] id="h2-read"
# Each rule runs **cold** (the first run after the rule changed: Envoy builds a new cluster, with no
# connection yet) and then **warm**:
#
# * `maxConnections: 1`: nothing is rejected. Every request is at the app at once, on one connection per
#   Envoy worker: each worker has its own connection pool, and a pool that has no connection may always open
#   one (the second worker's connection is over the limit and is made anyway; `upstream_cx_overflow` usually
#   counts it). `maxConnections` limits connections, and HTTP/2 needs only one.
# * `http2MaxRequests: 10`: the cap that rejects. At most 10 requests are at the app; the rest get a 503 `UO`
#   at once from the client sidecar, counted in `upstream_rq_active_overflow`.
# * `http1MaxPendingRequests: 1`: with HTTP/2 a request waits only while its worker's connection is being
#   set up. A cold run may reject the calls that arrive in that moment beyond the one that may wait (it
#   usually does: `upstream_rq_pending_overflow`; the server sidecar, which gets the same rule, may add a few
#   503s of its own); a warm run rejects nothing.
#
# Despite their names, both limits apply to HTTP/1.1 and HTTP/2 alike: Envoy made it so long ago
# (envoyproxy/envoy#9668), Istio's DestinationRule reference says so since istio/api#2428, and
# istio/istio#57705 removed the last code comments that said otherwise.
#
# <!-- claims: envoy.http2.max-connections-multiplexes envoy.http2.max-requests-rejects -->
# <!-- claims: envoy.http2.no-queue istio.pool.limits-apply-to-both-http-versions -->

# %% [markdown] lang="zh"
# 每条规则先**冷**运行一次（规则变更之后的第一次运行：Envoy 新建一个集群，还没有连接），然后**热**运行：
#
# * `maxConnections: 1`：没有任何请求被拒绝。所有请求同时在应用中，它们走在每个 Envoy 工作线程一个的连接
#   上：每个工作线程有自己的连接池，而一个还没有连接的连接池总是可以打开一个连接（第二个工作线程的连接超出了
#   上限，但照样建立；`upstream_cx_overflow` 通常会对它计数）。`maxConnections` 限制的是连接，而 HTTP/2 只
#   需要一个连接。
# * `http2MaxRequests: 10`：拒绝请求的上限。应用中最多有 10 个请求；其余的立即从客户端 sidecar 得到 503
#   `UO`，计入 `upstream_rq_active_overflow`。
# * `http1MaxPendingRequests: 1`：使用 HTTP/2 时，请求只在它所在工作线程的连接正在建立时等待。冷运行可能
#   拒绝在那一刻到达、超出那一个等待名额的调用（通常会：`upstream_rq_pending_overflow`；得到同一条规则的
#   服务端 sidecar 也可能添加几个它自己的 503）；热运行不拒绝任何调用。
#
# 尽管名字如此，这两个上限对 HTTP/1.1 和 HTTP/2 同样适用：Envoy 很早就这样做了（envoyproxy/envoy#9668），
# Istio 的 DestinationRule 参考文档从 istio/api#2428 起写明了这一点，istio/istio#57705 删掉了代码中最后几处
# 相反的注释。
#
# <!-- claims: envoy.http2.max-connections-multiplexes envoy.http2.max-requests-rejects -->
# <!-- claims: envoy.http2.no-queue istio.pool.limits-apply-to-both-http-versions -->

# %% id="h2-compare"
predictions.h2_verdict(guess_h2, h2, lang=lang)

# %% id="check-h2"
checks.h2_step(h2, lang=lang)

# %% [markdown] id="step-3-grpc"
# ## Step 3: gRPC, the same breaker under another name
#
# gRPC runs on HTTP/2, so the same rules act on it. `service-go-grpc.yaml` runs the same image with an
# argument, which a real cluster passes to it the same way, and names its port `grpc`:
#
# ```yaml
#       containers:
#       - name: service-go
#         image: lablib/service-go:v1
#         args: ["--grpc", "--port", "8079"]   # fortio's gRPC ping server instead of HTTP
# ```
#
# fortio calls it with `fortio load -grpc -ping`, under a rule of `maxConnections: 1` and
# `http2MaxRequests: 10`. **Predict**: the calls the breaker rejects, with which status do they fail?
# (Parameter `predict_grpc_status`.)
#
# <!-- claims: istio.port-protocol.http2-upstream -->

# %% [markdown] lang="zh"
# ## 第 3 步：gRPC，同一个熔断器换了个名字
#
# gRPC 运行在 HTTP/2 之上，所以同样的规则对它起作用。`service-go-grpc.yaml` 用一个参数运行同一个镜像（真实
# 集群也以同样的方式把它传给镜像），并把端口命名为 `grpc`：
#
# ```yaml
#       containers:
#       - name: service-go
#         image: lablib/service-go:v1
#         args: ["--grpc", "--port", "8079"]   # 用 fortio 的 gRPC ping 服务代替 HTTP
# ```
#
# fortio 用 `fortio load -grpc -ping` 调用它，规则是 `maxConnections: 1` 和 `http2MaxRequests: 10`。
# **预测**：被熔断器拒绝的调用会以哪个状态失败？（参数 `predict_grpc_status`。）
#
# <!-- claims: istio.port-protocol.http2-upstream -->

# %% id="grpc-predict"
guess_grpc = kit.ask(predictions.PREDICTIONS["grpc_status"], params["predict_grpc_status"], c=concurrency,
                     lang=lang)
guess_grpc

# %% id="grpc-runs"
protocols.remove(lab, WORK, protocols.H2_HOST)  # Step 2's service and rule: done with them
lab.apply(protocols.GRPC_SERVER)
grpc = protocols.grpc_runs(lab, concurrency, directory=WORK, calls_per_thread=calls_per_thread,
                           warm_runs=warm_runs, lang=lang)
plots.protocol_table(grpc, lang=lang)

# %% [markdown] id="grpc-read"
# The client sidecar rejects the calls over the cap exactly as in Step 2 (`upstream_rq_active_overflow`),
# but a gRPC client never sees an HTTP status: Envoy answers the rejected call with gRPC status
# **UNAVAILABLE (14)**, mapped from its 503 (502, 504 and 429 map to it too), and fortio counts it as
# `ERROR`. Even the client sidecar's access log records the call as `200 UO`: a gRPC reply's HTTP status is
# 200, its failure is in its `grpc-status`. Looking for 503s is why "the circuit breaker does not seem to work
# on gRPC": it works, under another name.
#
# <!-- claims: envoy.grpc.overflow-unavailable -->

# %% [markdown] lang="zh"
# 客户端 sidecar 拒绝超出上限的调用的方式与第 2 步完全一样（`upstream_rq_active_overflow`），但 gRPC
# 客户端永远看不到 HTTP 状态码：Envoy 用 gRPC 状态 **UNAVAILABLE（14）** 回答被拒绝的调用，它由 503 映射
# 而来（502、504 和 429 也映射到它），fortio 把它计为 `ERROR`。连客户端 sidecar 的访问日志也把这个调用记为
# `200 UO`：gRPC 应答的 HTTP 状态码是 200，失败写在它的 `grpc-status` 中。只找 503，正是“熔断器似乎对 gRPC
# 不起作用”的原因：它起作用，只是换了个名字。
#
# <!-- claims: envoy.grpc.overflow-unavailable -->

# %% id="grpc-compare"
display(predictions.grpc_verdict(guess_grpc, grpc, lang=lang))
protocols.remove(lab, WORK, protocols.GRPC_HOST)  # done with the gRPC service: Step 4 reads service-go again

# %% id="check-grpc"
checks.grpc_step(grpc, lang=lang)

# %% [markdown] id="reading-the-breaker"
# ## Step 4: reading the breaker in a real mesh
#
# On a cluster you cannot open the sidecar's admin port from a notebook; you ask istioctl and the sidecar
# itself. Three views, each with the same name in the lab's own commands:
#
# 1. **The configuration**: `istioctl proxy-config cluster <pod> --direction inbound --port 80 -o json`
#    shows the server's `inbound|80||` cluster; `circuitBreakers.thresholds[0].maxRequests` is the Sidecar's
#    15. For a client, `--fqdn service-go.default.svc.cluster.local` shows the rule's 10.
# 2. **The counters**: `pilot-agent request GET stats` in the `istio-proxy` container. By default Istio keeps
#    only `cluster_manager`, `listener_manager`, `server` and `cluster.xds-grpc`: the breaker counters
#    (`cluster.inbound|80||.upstream_rq_pending_overflow`, `…active_overflow`, `…cx_overflow`) are **not
#    there** unless the pod asks for them with `proxy.istio.io/config: proxyStatsMatcher: inclusionPrefixes`
#    (the older annotation `sidecar.istio.io/statsInclusionPrefixes` does the same). Note that this lab's
#    `fortio.yaml` carries such an annotation for `cluster.outbound` (the book's does not), and
#    `service-go-one-pod.yaml` one for `cluster.inbound`: without them, on a cluster you would see no
#    overflow at all and conclude the breaker never tripped. The embedded lab serves every counter.
# 3. **The access log**: Istio's text format puts the response flags right after the code:
#    `"GET /env HTTP/1.1" 503 UO upstream_reset_before_response_started{overflow} …`. `UO` is this sidecar's
#    own breaker, `UH` no healthy upstream (every host ejected), `URX` the route's retries exhausted, `UF` an
#    upstream connection failure, and `-` no flag: the 503 came from upstream, here the server's breaker.
#
# <!-- claims: istio.stats.breaker-hidden-by-default envoy.access-log.flags -->

# %% [markdown] lang="zh"
# ## 第 4 步：在真实网格中读懂熔断器
#
# 在集群上，你无法从笔记本打开 sidecar 的管理端口；你要问 istioctl 和 sidecar 自己。三种视图，在本实验自己
# 的命令中名字都一样：
#
# 1. **配置**：`istioctl proxy-config cluster <pod> --direction inbound --port 80 -o json` 显示服务端的
#    `inbound|80||` 集群；`circuitBreakers.thresholds[0].maxRequests` 就是 Sidecar 的 15。对于客户端，
#    `--fqdn service-go.default.svc.cluster.local` 显示规则的 10。
# 2. **计数器**：在 `istio-proxy` 容器中运行 `pilot-agent request GET stats`。Istio 默认只保留
#    `cluster_manager`、`listener_manager`、`server` 和 `cluster.xds-grpc`：熔断器计数器
#    （`cluster.inbound|80||.upstream_rq_pending_overflow`、`…active_overflow`、`…cx_overflow`）**不在其中**，
#    除非 pod 用 `proxy.istio.io/config: proxyStatsMatcher: inclusionPrefixes` 要求它们（较早的注解
#    `sidecar.istio.io/statsInclusionPrefixes` 作用相同）。注意本实验的 `fortio.yaml` 为 `cluster.outbound`
#    带有这样的注解（书中的没有），`service-go-one-pod.yaml` 为 `cluster.inbound` 也带有一个：没有它们，
#    在集群上你会看不到任何溢出，从而以为熔断器从未触发。嵌入式实验提供所有计数器。
# 3. **访问日志**：Istio 的文本格式把响应标志放在响应码之后：
#    `"GET /env HTTP/1.1" 503 UO upstream_reset_before_response_started{overflow} …`。`UO` 是这个 sidecar
#    自己的熔断器，`UH` 是没有健康的上游（所有实例都被驱逐），`URX` 是路由的重试次数用尽，`UF` 是上游连接
#    失败，`-` 表示没有标志：503 来自上游，这里就是服务端的熔断器。
#
# <!-- claims: istio.stats.breaker-hidden-by-default envoy.access-log.flags -->

# %% id="commands"
reading.commands_view(lang=lang)  # the embedded lab's commands, then a real cluster's (run those yourself)

# %% id="proxy-config"
start = time.time()
guard.run_servers(lab, pods, concurrency, limit=server_limit, calls_per_thread=calls_per_thread)
view = reading.inbound_view(lab, clients=pods, since=start)
plots.shown_file(lab.proxy_config("cluster", pod=guard.SERVER_POD))  # as istioctl proxy-config … -o yaml

# %% id="check-view"
checks.view_shows_limit(view, server_limit, lang=lang)

# %% [markdown] id="explorer-intro"
# ## Step 5: explorer
#
# Choose how many client pods run, each one's threads, and whether the server has a limit of its own (and
# how large), then press **Run**: every client runs at once, and a row shows what the clients admitted, what
# the server let into its app at once, its overflows and the upstream 503s the clients got.
#
# <!-- claims: istio.sidecar.server-limit-holds -->

# %% [markdown] lang="zh"
# ## 第 5 步：探索器
#
# 选择同时运行的客户端 pod 数、每个客户端的线程数，以及服务端是否有自己的上限（以及上限多大），然后按
# **Run**：所有客户端同时运行，一行结果显示客户端接纳了多少、服务端同时放进应用多少、它的溢出，以及客户端
# 收到的上游 503。
#
# <!-- claims: istio.sidecar.server-limit-holds -->

# %% id="explorer"
explorer = ServerExplorer(lab, directory=WORK, server_limit=server_limit, concurrency=concurrency,
                          calls_per_thread=calls_per_thread, lang=lang)
explorer

# %% id="check-explorer"
if run_explorer and not explorer.runs:
    explorer.run()  # the start values, so the check below has a run to judge
checks.explorer_ran(explorer.runs, lang=lang)

# %% [markdown] id="cleanup-intro"
# ## Step 6: cleanup
#
# `lab.cleanup()` deletes everything this lab applied (the Sidecar included) and stops every process it
# started; the notebook's manifests are removed too.

# %% [markdown] lang="zh"
# ## 第 6 步：清理
#
# `lab.cleanup()` 删除本实验应用过的一切（包括 Sidecar），并停止它启动的每个进程；笔记本写下的清单文件
# 也会删除。

# %% id="cleanup"
lab.cleanup()
shutil.rmtree(WORK, ignore_errors=True)
kit.checks.cleaned_up(lang=lang)
