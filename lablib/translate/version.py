"""The Istio release the translator follows, what changed since the book's Istio 1.0, and a pure check of a
reported istiod version against it.

:data:`CHANGES` is the one list of version-dependent behaviours the lab touches;
docs/reference/istio-versions.md prints the same rows with more words, and tests/translate/test_versions.py
checks the translator on each row it implements. :func:`istiod_version_warning` is for the cluster backend:
a cluster whose istiod is not 1.30 runs sidecars configured differently from what the lab shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from lablib.translate.defaults import ISTIO_VERSION

__all__ = ["CHANGES", "ISTIO_VERSION", "VersionChange", "istiod_version_warning", "parse_minor"]


@dataclass(frozen=True)
class VersionChange:
    """One behaviour that changed between Istio 1.0 and the pinned release.

    Attributes:
        since: the first Istio minor release with the new behaviour (``"1.7"``).
        field: the Istio (or Envoy) field or behaviour concerned.
        before: what older releases did.
        now: what the pinned release does (what the translator emits).
        source: where that is written (Istio file, PR, commit or release note).
    """

    since: str
    field: str
    before: str
    now: str
    source: str


#: Ordered by version. Each row the translator implements has a test in tests/translate/test_versions.py.
CHANGES: Final[tuple[VersionChange, ...]] = (
    VersionChange(
        "1.1",
        "default route retries",
        "no retry policy on a route without VirtualService retries",
        "2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, "
        "previous_hosts predicate, host_selection_retry_max_attempts 5",
        "istio/istio#10566; route/retry/retry.go DefaultPolicy",
    ),
    VersionChange(
        "1.4",
        "default circuit breakers (no DestinationRule)",
        "Envoy's 1024 connections / 1024 pending / 1024 requests / 3 retries",
        "2^32-1 on all four DEFAULT-priority thresholds of every outbound cluster",
        "istio/istio#17346 (release-1.4); cluster_traffic_policy.go getDefaultCircuitBreakerThresholds",
    ),
    VersionChange(
        "1.7",
        "outlierDetection.consecutiveErrors",
        "N > 0 -> consecutive_gateway_failure N enforced 100%, consecutive_5xx not enforced "
        "(only 502/503/504 ejected)",
        "ignored (validation warns): Envoy's default consecutive_5xx 5 enforced 100% applies",
        "commit a291ab60276 'Stop using OutlierDetection.ConsecutiveErrors'; validation.go",
    ),
    VersionChange(
        "1.10",
        "circuit_breakers.thresholds[0].track_remaining",
        "false (no remaining_* gauges)",
        "true: Envoy emits the remaining_* gauges",
        "commit a49a2fa6140; cluster_traffic_policy.go getDefaultCircuitBreakerThresholds",
    ),
    VersionChange(
        "1.24",
        "default route retries on 503",
        "retriable_status_codes [503]: an application 503 was retried twice",
        "no retriable status codes: 503s are not retried (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY=true)",
        "istio/istio#50506; Istio 1.24 release notes; pilot/pkg/features",
    ),
    VersionChange(
        "1.27",
        "trafficPolicy.retryBudget",
        "no retry budget (max_retries only)",
        "thresholds[0].retry_budget {budget_percent, min_retry_concurrency}, which overrides max_retries",
        "commit cef716e3b83; istio/api#3512; cluster_traffic_policy.go applyRetryBudget",
    ),
    VersionChange(
        "1.28",
        "connectionPool.http.maxConcurrentStreams with h2UpgradePolicy UPGRADE",
        "dropped: the pool was applied before the upgrade made the cluster HTTP/2",
        "http2_protocol_options.max_concurrent_streams set: the upgrade runs first",
        "istio/istio#57569 (issue #57583); cluster_traffic_policy.go applyTrafficPolicy",
    ),
    VersionChange(
        "1.29",
        "circuit_breakers.thresholds[0].track_remaining",
        "true (1.10-1.28)",
        "false unless DISABLE_TRACK_REMAINING_CB_METRICS=false; translate(track_remaining=True) restores it",
        "commit 615dea44101; pilot/pkg/features/pilot.go",
    ),
    VersionChange(
        "1.30",
        "trafficPolicy.retryBudget without percent",
        "budget_percent 0.2, which Envoy's 0-100 Percent reads as 0.2% (1.27-1.29)",
        "budget_percent 20.0 (20%), as the API documents",
        "istio/istio#59505 fixing #59504; cluster_traffic_policy.go applyRetryBudget",
    ),
)

_MINOR = re.compile(r"^\s*v?(\d+)\.(\d+)")


def parse_minor(version: str) -> tuple[int, int] | None:
    """``"1.30.1"``, ``"v1.30.0-distroless"``, ``"1.30"`` -> ``(1, 30)``; ``None`` if it is not a version."""
    match = _MINOR.match(version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _minor(version: str) -> tuple[int, int]:
    minor = parse_minor(version)
    assert minor is not None, f"not a version: {version!r}"
    return minor


def istiod_version_warning(reported: str | None) -> str | None:
    """A warning when istiod's version is not the release the translator follows; ``None`` when it is.

    Compares major.minor only (patch releases do not change these behaviours) and lists the rows of
    :data:`CHANGES` that differ between the two releases, so the student knows which shown fields may differ
    from what the sidecars really run.
    """
    pinned = _minor(ISTIO_VERSION)
    got = parse_minor(reported or "")
    if got is None or reported is None:
        return (
            f"could not read istiod's version ({reported!r}); the lab shows what Istio {ISTIO_VERSION} "
            "would configure, which may differ from what this cluster's sidecars run"
        )
    if got == pinned:
        return None
    low, high = min(got, pinned), max(got, pinned)
    differing = [c for c in CHANGES if low < _minor(c.since) <= high]
    who = "this cluster's sidecars lack" if got < pinned else "the lab does not know"
    head = f"istiod is {reported.strip()} but the lab translates as Istio {ISTIO_VERSION}: {who} "
    if not differing:
        return head + "changes between the two; the shown configuration may differ from what runs"
    lines = [head + "these changes:"]
    lines += [f"  - Istio {c.since}: {c.field}: {c.now} (before: {c.before})" for c in differing]
    lines.append(f"Install Istio {ISTIO_VERSION} to run the configuration the lab shows.")
    return "\n".join(lines)
