"""Envoy's admin interface as Python data: ``/stats`` and ``/clusters`` parsers, and a tiny admin client.

The parsers are pure (text in, data out) so both backends use them: the embedded mesh reads its sidecars'
admin endpoints directly, the kind backend reads the same text through ``pilot-agent request GET stats``.

``AdminClient`` is the one boundary where talking to an Envoy can fail: every socket or HTTP error becomes an
``EnvoyError`` naming the sidecar, so no ``ConnectionRefusedError`` or ``http.client`` exception reaches a
student. It speaks HTTP over TCP or over a Unix socket (the embedded mesh's admin endpoints are owner-only
sockets, ``admin.address.pipe`` with mode 0600).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from lablib._exceptions import EnvoyError
from lablib._types import JSONDict
from lablib.envoy.upstream import ClusterStats, HostStatus
from lablib.i18n import Msg

__all__ = ["AdminClient", "UnixHTTPConnection", "cluster_stats", "parse_clusters", "parse_stats",
           "parse_text_readouts", "split_by_cluster"]

#: ``sun_path`` holds 108 bytes; a deeper socket is reached through its directory (``/proc/self/fd/N/name``).
_SUN_PATH_MAX = 100

#: ``/clusters`` keys that belong to the cluster itself rather than to one host.
_CLUSTER_LEVEL = {"default_priority", "high_priority", "outlier", "added_via_api", "observability_name",
                  "eds_service_name"}


def parse_stats(text: str) -> dict[str, int]:
    """Envoy ``/stats`` text (``name: value`` per line) -> ``{name: value}`` for counters and gauges.

    Histogram lines (``P0(nan,…)``) and anything else that is not an integer are skipped. Stat names may
    contain ``|`` and ``:`` (Istio cluster names), so a line is split at its last ``": "``.
    """
    flat: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.rpartition(": ")
        if not sep:
            continue
        try:
            flat[name.strip()] = int(value.strip())
        except ValueError:
            continue
    return flat


def cluster_stats(flat: Mapping[str, int], cluster: str) -> ClusterStats:
    """The stats of one Envoy cluster, keys without the ``cluster.<name>.`` prefix.

    >>> cluster_stats({"cluster.outbound|80||a.b.upstream_rq_pending_overflow": 3}, "outbound|80||a.b")["upstream_rq_pending_overflow"]
    3
    """  # noqa: E501
    prefix = f"cluster.{cluster}."
    # Cluster names contain dots: `outbound|80||a` must not take the stats of `outbound|80||a.b`.
    longer = tuple(f"cluster.{n}." for n in cluster_names(flat, prefix=cluster + ".") if n != cluster)
    values = {k[len(prefix):]: v for k, v in flat.items()
              if k.startswith(prefix) and not (longer and k.startswith(longer))}
    return ClusterStats(cluster=cluster, values=values)


def split_by_cluster(flat: Mapping[str, int], *, prefix: str = "outbound|") -> dict[str, ClusterStats]:
    """Every cluster's stats (clusters named ``prefix…``) from one ``/stats`` read, in one pass.

    Cluster names contain dots, so each ``cluster.<name>.<stat>`` key goes to the longest known name it starts
    with (tried from the right: stat names have few dots); ``cluster_stats`` per cluster would rescan every
    key once per cluster (minutes at 1,000 subsets).
    """
    names = set(cluster_names(flat, prefix=prefix))
    values: dict[str, dict[str, int]] = {n: {} for n in names}
    start = len("cluster.")
    for key, value in flat.items():
        if not key.startswith("cluster." + prefix):
            continue
        dot = key.rfind(".")
        while dot > start:
            name = key[start:dot]
            if name in names:
                values[name][key[dot + 1:]] = value
                break
            dot = key.rfind(".", start, dot)
    return {n: ClusterStats(cluster=n, values=values[n]) for n in sorted(names)}


def parse_text_readouts(text: str) -> dict[str, str]:
    """The text readouts of ``/stats`` text (``name: "value"``), e.g. ``cluster_manager.cds.version_text``."""
    out = {}
    for line in text.splitlines():
        name, sep, value = line.rpartition(": ")
        value = value.strip()
        if sep and len(value) >= 2 and value[0] == value[-1] == '"':
            out[name.strip()] = value[1:-1]
    return out


#: Stats every cluster has: ``upstream_rq_total`` in a full read; ``warming_state``, a gauge Envoy sets for
#: every cluster, also in a ``usedonly`` read (measured on Envoy 1.40: an idle subset shows only that one).
_CLUSTER_MARKERS = (".upstream_rq_total", ".warming_state")


def cluster_names(flat: Mapping[str, int], *, prefix: str = "outbound|") -> list[str]:
    """Names of the clusters that have stats in ``flat`` (by default Istio's ``outbound|`` ones), sorted."""
    names = set()
    for key in flat:
        if key.startswith("cluster." + prefix):
            for marker in _CLUSTER_MARKERS:
                if key.endswith(marker):
                    names.add(key[len("cluster."):-len(marker)])
    return sorted(names)


def parse_clusters(text: str) -> list[HostStatus]:
    """Envoy ``/clusters`` text -> one ``HostStatus`` per (cluster, host).

    Lines look like
    ``outbound|80|v1|service-go.default.svc.cluster.local::127.0.0.1:8081::health_flags::healthy``;
    cluster-level lines (``::default_priority::max_connections::1``) are skipped. Health flags keep Envoy's
    spelling (``/failed_outlier_check``) so ``HostStatus.ejected`` works on them.
    """
    hosts: dict[tuple[str, str], dict[str, object]] = {}
    for line in text.splitlines():
        parts = line.strip().split("::")
        if len(parts) < 4 or parts[1] in _CLUSTER_LEVEL:
            continue
        cluster, address, key, value = parts[0], "::".join(parts[1:-2]), parts[-2], parts[-1]
        entry = hosts.setdefault((cluster, address), {"flags": (), "stats": {}})
        if key == "health_flags":
            entry["flags"] = _health_flags(value)
            continue
        try:
            entry["stats"][key] = int(value)  # type: ignore[index]
        except ValueError:
            continue
    return [HostStatus(cluster=c, address=a, health_flags=e["flags"], stats=e["stats"])  # type: ignore[arg-type]
            for (c, a), e in hosts.items()]


def _health_flags(value: str) -> tuple[str, ...]:
    value = value.strip()
    if value in ("", "healthy"):
        return ("healthy",)
    return tuple("/" + f for f in value.split("/") if f)


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a Unix stream socket (Envoy's ``admin.address.pipe``; service-go's control
    socket)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            if len(os.fsencode(str(self.socket_path))) < _SUN_PATH_MAX:
                sock.connect(str(self.socket_path))
            else:
                fd = os.open(self.socket_path.parent, os.O_PATH)
                try:
                    sock.connect(f"/proc/self/fd/{fd}/{self.socket_path.name}")
                finally:
                    os.close(fd)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class AdminClient:
    """HTTP calls to one Envoy's admin endpoint: TCP ``host:port``, or the Unix socket ``socket_path``.

    ``name`` says whose admin it is in errors (e.g. "the sidecar of pod service-go-v1-0"; a ``Msg``, so that
    the errors render in the notebook's language).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, socket_path: str | os.PathLike[str] | None
                 = None, name: str = "", timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.socket_path = Path(socket_path) if socket_path is not None else None
        self.name = name or (Msg("envoy.admin.on_socket", path=str(self.socket_path)) if self.socket_path
                             else Msg("envoy.admin.on_port", port=port))

    def __repr__(self) -> str:
        return f"<AdminClient {self.name}>"

    def _connection(self) -> http.client.HTTPConnection:
        if self.socket_path is not None:
            return UnixHTTPConnection(self.socket_path, self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method: str, path: str, params: Mapping[str, str] | None = None) -> tuple[int, str]:
        """Send one admin request; return (status, body text). Raises ``EnvoyError`` if Envoy cannot be
        reached or breaks the connection (the one place socket and HTTP errors are mapped)."""
        if params:
            path += "?" + urllib.parse.urlencode(params)
        conn = self._connection()
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
            raise EnvoyError(Msg("envoy.admin.no_answer", name=self.name, method=method,
                                 path=path.partition("?")[0], why=why)) from exc
        finally:
            conn.close()

    def get(self, path: str, **params: str) -> str:
        status, body = self.request("GET", path, params)
        if status != 200:
            raise EnvoyError(Msg("envoy.admin.http_error", name=self.name, method="GET", path=path,
                                 status=status, body=body.strip()[:200]))
        return body

    def post(self, path: str, **params: str) -> str:
        status, body = self.request("POST", path, params)
        if status != 200:
            raise EnvoyError(Msg("envoy.admin.http_error", name=self.name, method="POST", path=path,
                                 status=status, body=body.strip()[:200]))
        return body

    def ready(self) -> bool:
        """True when ``/ready`` says LIVE (all initial config loaded)."""
        try:
            status, body = self.request("GET", "/ready")
        except EnvoyError:
            return False
        return status == 200 and body.strip() == "LIVE"

    def stats(self, filter: str | None = None, *, used_only: bool = False) -> dict[str, int]:
        """``/stats`` as ``{name: value}``; ``filter`` is Envoy's regex filter. ``used_only`` leaves out the
        stats Envoy never touched (``usedonly``: they are 0), which keeps a read of 1,000 clusters small."""
        params = {"filter": filter} if filter else {}
        if used_only:
            params["usedonly"] = ""
        return parse_stats(self.get("/stats", **params))

    def text_readouts(self, filter: str) -> dict[str, str]:
        """``/stats`` text readouts matching ``filter`` (e.g. an xDS subscription's ``version_text``)."""
        return parse_text_readouts(self.get("/stats", filter=filter))

    def config_dump(self, resource: str, *, mask: str | None = None) -> list[JSONDict]:
        """``/config_dump?resource=…`` (optionally ``mask``): the dumped items of that resource."""
        params = {"resource": resource, **({"mask": mask} if mask else {})}
        try:
            return list(json.loads(self.get("/config_dump", **params)).get("configs", []))
        except ValueError as exc:
            raise EnvoyError(Msg("envoy.admin.not_json", name=self.name, error=str(exc))) from exc

    def clusters(self) -> list[HostStatus]:
        return parse_clusters(self.get("/clusters"))

    def reset_counters(self) -> None:
        self.post("/reset_counters")
