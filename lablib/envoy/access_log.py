"""The client sidecar's JSON access log: one record per response, with Envoy's response flags.

Every 503 of a breaker lab can be attributed: ``UO`` is a circuit-breaker overflow (``x-envoy-overloaded``),
``UH`` no healthy upstream (all hosts ejected), ``URX`` retries exhausted, no flag with details
``via_upstream`` means the app itself answered that status. See Envoy's access-log ``usage.rst`` for the flag
list.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from lablib._types import JSONDict

__all__ = ["ACCESS_LOG_FORMAT", "ResponseRecord", "count_by_flag", "file_access_log", "parse_access_log"]

#: The JSON line Envoy writes per response (command operators from Envoy's access-log ``usage.rst``).
ACCESS_LOG_FORMAT: JSONDict = {
    "start_time": "%START_TIME(%s.%3f)%",
    "duration_ms": "%DURATION%",
    "method": "%REQ(:METHOD)%",
    "authority": "%REQ(:AUTHORITY)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "x_envoy_overloaded": "%RESP(X-ENVOY-OVERLOADED)%",
    "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
}


def file_access_log(path: str) -> JSONDict:
    """An ``access_log`` entry for an HTTP connection manager: JSON lines into ``path``."""
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {"json_format": ACCESS_LOG_FORMAT},
        },
    }


@dataclass(frozen=True)
class ResponseRecord:
    """One response the client sidecar sent to fortio."""

    start_time: float
    duration_ms: int
    code: int
    flags: str
    details: str
    upstream_cluster: str
    upstream_host: str
    authority: str = ""
    path: str = ""
    overloaded: bool = False
    #: upstream attempts the router made for this response (1 + its retries; 0: none, e.g. a local 503 UO)
    attempts: int = 1

    @property
    def flag_set(self) -> frozenset[str]:
        """Envoy joins several flags with commas (``UO,URX``); ``-`` means none."""
        return frozenset(f for f in self.flags.split(",") if f and f != "-")


def _text(value: object) -> str:
    return "" if value in (None, "-") else str(value)


def parse_access_log(lines: Iterable[str], *, since: float | None = None) -> list[ResponseRecord]:
    """Parse JSON access-log lines (skipping partial or foreign lines), keeping those started at/after
    ``since``."""
    out = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            d = json.loads(line)
            rec = ResponseRecord(
                start_time=float(d.get("start_time") or 0.0),
                duration_ms=int(d.get("duration_ms") or 0),
                code=int(d.get("response_code") or 0),
                flags=_text(d.get("response_flags")) or "-",
                details=_text(d.get("response_code_details")),
                upstream_cluster=_text(d.get("upstream_cluster")),
                upstream_host=_text(d.get("upstream_host")),
                authority=_text(d.get("authority")),
                path=_text(d.get("path")),
                overloaded=_text(d.get("x_envoy_overloaded")).lower() == "true",
                attempts=int(d.get("attempts") or 0) if "attempts" in d else 1,
            )
        except (ValueError, TypeError, AttributeError):
            continue
        if since is None or rec.start_time >= since:
            out.append(rec)
    return out


def count_by_flag(records: Iterable[ResponseRecord]) -> Counter[tuple[int, str]]:
    """``{(response_code, flags): count}``, e.g. ``{(200, "-"): 192, (503, "UO"): 8}``."""
    return Counter((r.code, r.flags) for r in records)
