"""Envoy admin text -> Python data: ``/stats``, ``/clusters``, the access log, and a run's explanation."""

from __future__ import annotations

import json

import pytest

from lablib import EnvoyError
from lablib.backends.base import ClusterStats
from lablib.envoy import AdminClient, cluster_stats, parse_access_log, parse_clusters, parse_stats
from lablib.envoy.access_log import count_by_flag
from lablib.envoy.admin import cluster_names, parse_text_readouts, split_by_cluster
from lablib.envoy.explain import cause_of, counter_deltas, explain_run

C = "outbound|80||service-go.default.svc.cluster.local"
V1 = "outbound|80|v1|service-go.default.svc.cluster.local"

STATS = f"""\
cluster.{C}.circuit_breakers.default.rq_pending_open: 1
cluster.{C}.upstream_rq_pending_overflow: 21
cluster.{C}.upstream_rq_total: 29
cluster.{C}.outlier_detection.ejections_active: 0
cluster.{V1}.upstream_rq_total: 4
cluster.{V1}.upstream_rq_active_overflow: 2
cluster.{C}.upstream_rq_time: P0(nan,0) P25(nan,1.05) P50(nan,2.05)
http.outbound_0.0.0.0_80.downstream_rq_completed: 33
server.version: 9e5580
"""

CLUSTERS = f"""\
{C}::observability_name::{C}
{C}::default_priority::max_connections::1
{C}::default_priority::max_pending_requests::1
{C}::high_priority::max_connections::1024
{C}::outlier::success_rate_average::-1
{C}::added_via_api::true
{C}::127.0.0.1:8081::cx_active::1
{C}::127.0.0.1:8081::rq_total::12
{C}::127.0.0.1:8081::hostname::
{C}::127.0.0.1:8081::health_flags::healthy
{C}::127.0.0.1:8082::cx_active::0
{C}::127.0.0.1:8082::health_flags::/failed_outlier_check
{V1}::[::1]:8083::health_flags::/failed_active_hc/failed_outlier_check
{V1}::[::1]:8083::rq_error::5
"""


def test_parse_stats_keeps_istio_names_and_skips_histograms():
    flat = parse_stats(STATS)
    assert flat[f"cluster.{C}.upstream_rq_pending_overflow"] == 21
    assert f"cluster.{C}.upstream_rq_time" not in flat
    assert "server.version" not in flat  # not an integer
    assert flat["http.outbound_0.0.0.0_80.downstream_rq_completed"] == 33


def test_cluster_stats_strips_the_prefix_and_separates_subsets():
    flat = parse_stats(STATS)
    s = cluster_stats(flat, C)
    assert isinstance(s, ClusterStats)
    assert s["upstream_rq_pending_overflow"] == 21
    assert s["circuit_breakers.default.rq_pending_open"] == 1
    assert s.get("upstream_rq_active_overflow") == 0  # that one belongs to the v1 subset cluster
    assert s.overflows["upstream_rq_pending_overflow"] == 21
    assert cluster_stats(flat, V1)["upstream_rq_active_overflow"] == 2
    assert cluster_names(flat) == [V1, C]


def test_parse_clusters_gives_one_host_status_per_host():
    hosts = {(h.cluster, h.address): h for h in parse_clusters(CLUSTERS)}
    assert set(hosts) == {(C, "127.0.0.1:8081"), (C, "127.0.0.1:8082"), (V1, "[::1]:8083")}
    ok, ejected, both = hosts[(C, "127.0.0.1:8081")], hosts[(C, "127.0.0.1:8082")], hosts[(V1, "[::1]:8083")]
    assert ok.healthy and not ok.ejected and ok.stats["rq_total"] == 12
    assert ejected.ejected and not ejected.healthy
    assert both.health_flags == ("/failed_active_hc", "/failed_outlier_check") and both.ejected
    assert both.stats["rq_error"] == 5


def _log_line(code: int, flags: str, details: str, overloaded: str | None = None, t: float = 100.0) -> str:
    return json.dumps({"start_time": f"{t:.3f}", "duration_ms": 3, "response_code": code,
                       "response_flags": flags, "response_code_details": details, "upstream_cluster": C,
                       "upstream_host": "127.0.0.1:8081", "authority": "service-go", "path": "/env",
                       "x_envoy_overloaded": overloaded})


def test_parse_access_log_and_since():
    lines = [_log_line(200, "-", "via_upstream", t=99.0), "partial {garbage", _log_line(
        503, "UO", "upstream_reset_before_response_started{overflow}", "true", t=101.0)]
    records = parse_access_log(lines)
    assert [(r.code, r.flags, r.overloaded) for r in records] == [(200, "-", False), (503, "UO", True)]
    assert [r.code for r in parse_access_log(lines, since=100.0)] == [503]
    assert count_by_flag(records) == {(200, "-"): 1, (503, "UO"): 1}
    assert records[1].flag_set == {"UO"} and records[0].flag_set == frozenset()


@pytest.mark.parametrize(("line", "cause"), [
    (_log_line(503, "UO", "upstream_reset_before_response_started{overflow}", "true"),
     "client breaker overflow (UO)"),
    (_log_line(503, "UH", "no_healthy_upstream"), "no healthy upstream (UH)"),
    (_log_line(503, "-", "via_upstream", "true"), "server sidecar overflow"),
    (_log_line(500, "-", "via_upstream"), "app answered 500"),
    (_log_line(503, "URX,UF", "upstream_reset_before_response_started{connection_failure}"),
     "envoy response flags UF,URX"),
    (_log_line(200, "-", "via_upstream"), "ok"),
])
def test_cause_of_each_response(line, cause):
    assert cause_of(parse_access_log([line])[0]) == cause


def test_explanation_joins_flags_with_counter_deltas():
    before = {C: ClusterStats(C, {"upstream_rq_pending_overflow": 10})}
    after = {C: ClusterStats(C, {"upstream_rq_pending_overflow": 12, "upstream_cx_overflow": 3})}
    records = parse_access_log([_log_line(200, "-", "via_upstream")] + [
        _log_line(503, "UO", "upstream_reset_before_response_started{overflow}", "true")] * 2)
    why = explain_run(records, client_counters=counter_deltas(before, after))
    assert why.client_counters == {C: {"upstream_rq_pending_overflow": 2, "upstream_cx_overflow": 3}}
    assert why.uo == why.client_rq_overflows == 2 and why.accounted
    assert "every non-200 accounted for" in str(why)
    short = explain_run(records, client_counters={C: {"upstream_rq_pending_overflow": 1}})
    assert not short.accounted and "NOT accounted" in str(short)


def test_a_response_nobody_can_explain_is_counted():
    records = parse_access_log([_log_line(503, "-", "")])
    why = explain_run(records)
    assert why.unexplained == 1 and not why.accounted


def test_uh_must_match_none_healthy():
    records = parse_access_log([_log_line(503, "UH", "no_healthy_upstream")] * 3)
    assert explain_run(records, client_counters={C: {"upstream_cx_none_healthy": 3}}).accounted
    assert not explain_run(records, client_counters={C: {"upstream_cx_none_healthy": 2}}).accounted


def test_a_cluster_whose_name_prefixes_another_keeps_its_own_stats():
    flat = {"cluster.a.upstream_rq_total": 1, "cluster.a.b.upstream_rq_total": 7, "cluster.a.b.x": 3}
    assert cluster_stats(flat, "a").values == {"upstream_rq_total": 1}
    assert cluster_stats(flat, "a.b").values == {"upstream_rq_total": 7, "x": 3}
    assert cluster_names(flat, prefix="") == ["a", "a.b"]


def test_split_by_cluster_reads_every_cluster_in_one_pass_like_cluster_stats():
    flat = parse_stats(STATS)
    flat.update({"cluster.a.upstream_rq_total": 1, "cluster.a.b.upstream_rq_total": 7, "cluster.a.b.x": 3,
                 "cluster.a.circuit_breakers.default.rq_open": 1})
    every = split_by_cluster(flat, prefix="")
    assert list(every) == cluster_names(flat, prefix="")
    for name, stats in every.items():
        assert stats == cluster_stats(flat, name), name
    assert every["a"].values == {"upstream_rq_total": 1, "circuit_breakers.default.rq_open": 1}
    assert list(split_by_cluster(flat)) == [V1, C]  # outbound| by default


def test_text_readouts_are_the_quoted_stats():
    text = ('cluster_manager.cds.version_text: "7"\ncluster_manager.cds.update_success: 3\n'
            'x.version_text: ""\n')
    assert parse_text_readouts(text) == {"cluster_manager.cds.version_text": "7", "x.version_text": ""}
    assert "cluster_manager.cds.version_text" not in parse_stats(text)


def test_an_admin_that_does_not_answer_is_an_envoy_error_naming_it(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(EnvoyError, match=r"the sidecar of pod x did not answer GET /stats") as err:
        AdminClient("127.0.0.1", port, name="the sidecar of pod x").stats()
    assert isinstance(err.value.__cause__, ConnectionRefusedError)
    with pytest.raises(EnvoyError, match="did not answer POST /reset_counters"):
        AdminClient(socket_path=tmp_path / "gone.sock", name="the sidecar of pod y").reset_counters()
    assert not AdminClient(socket_path=tmp_path / "gone.sock").ready()
