"""Envoy, as the lab uses it: admin parsing (``/stats``, ``/clusters``), access-log records, bootstrap and xDS
files, and process launch. Both backends share the parsers; the embedded mesh uses the rest."""

from lablib.envoy.access_log import ACCESS_LOG_FORMAT, ResponseRecord, count_by_flag, parse_access_log
from lablib.envoy.admin import AdminClient, cluster_stats, parse_clusters, parse_stats
from lablib.envoy.process import find_envoy

__all__ = ["ACCESS_LOG_FORMAT", "AdminClient", "ResponseRecord", "cluster_stats", "count_by_flag",
           "find_envoy",
           "parse_access_log", "parse_clusters", "parse_stats"]
