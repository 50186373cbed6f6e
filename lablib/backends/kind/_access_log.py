"""PURE: Istio's default text access log (what ``istio-proxy`` prints with ``meshConfig.accessLogFile:
/dev/stdout``), parsed into the same ``ResponseRecord`` the embedded backend's JSON log gives.

The format is Istio's ``EnvoyTextLogFormat`` (pilot/pkg/model/telemetry_logging.go, Istio 1.9 and later)::

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
    %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
    "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
    %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%"
    "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS%
    %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%

(newer Istio prints ``%UPSTREAM_CLUSTER_RAW%`` in the same place). The text format has no
``x-envoy-overloaded`` column, so ``overloaded`` is always False here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from lablib.envoy.access_log import ResponseRecord

__all__ = ["ISTIO_TEXT_FORMAT", "parse_istio_access_log"]

#: Istio's ``EnvoyTextLogFormat`` (what its sidecars print when ``meshConfig.accessLogEncoding`` is TEXT).
ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% '
    '%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% '
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% '
    '%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n')

_LINE = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]*)" (?P<code>\d+) '
    r'(?P<flags>\S+) (?P<details>\S+) (?P<termination>\S+) "(?P<transport>[^"]*)" (?P<received>\d+) '
    r'(?P<sent>\d+) '
    r'(?P<duration>\d+|-) (?P<service_time>\S+) "(?P<xff>[^"]*)" "(?P<agent>[^"]*)" "(?P<request_id>[^"]*)" '
    r'"(?P<authority>[^"]*)" "(?P<host>[^"]*)" (?P<cluster>\S+)')


def _epoch(start: str) -> float | None:
    """Envoy's default ``%START_TIME%``: ``2024-06-02T13:24:57.930Z`` (UTC, milliseconds)."""
    try:
        return dt.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _text(value: str) -> str:
    return "" if value == "-" else value


def parse_istio_access_log(lines: Iterable[str], *, since: float | None = None) -> list[ResponseRecord]:
    """Records of the lines in Istio's text format (other lines, e.g. pilot-agent's own log, are skipped),
    keeping those started at/after ``since`` (epoch seconds)."""
    out = []
    for line in lines:
        m = _LINE.match(line.strip())
        if m is None:
            continue
        start = _epoch(m["start"])
        if start is None or (since is not None and start < since):
            continue
        out.append(ResponseRecord(
            start_time=start, duration_ms=int(m["duration"]) if m["duration"] != "-" else 0,
            code=int(m["code"]), flags=m["flags"], details=_text(m["details"]),
            upstream_cluster=_text(m["cluster"]), upstream_host=_text(m["host"]),
            authority=_text(m["authority"]), path=_text(m["path"])))
    return out
