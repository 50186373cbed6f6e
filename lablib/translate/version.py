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

from lablib.i18n import Msg
from lablib.translate import defaults
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
        Msg("translate.version.v1_1.field"),
        Msg("translate.version.v1_1.before"),
        Msg(
            "translate.version.v1_1.now",
            n=defaults.ISTIO_DEFAULT_NUM_RETRIES,
            on=defaults.ISTIO_DEFAULT_RETRY_ON,
            attempts=defaults.ISTIO_DEFAULT_HOST_SELECTION_RETRY_MAX_ATTEMPTS,
        ),
        "istio/istio#10566; route/retry/retry.go DefaultPolicy",
    ),
    VersionChange(
        "1.4",
        Msg("translate.version.v1_4.field"),
        Msg("translate.version.v1_4.before", connections=defaults.ENVOY_DEFAULT_MAX_CONNECTIONS,
            pending=defaults.ENVOY_DEFAULT_MAX_PENDING_REQUESTS, requests=defaults.ENVOY_DEFAULT_MAX_REQUESTS,
            retries=defaults.ENVOY_DEFAULT_MAX_RETRIES),
        Msg("translate.version.v1_4.now"),
        "istio/istio#17346 (release-1.4); cluster_traffic_policy.go getDefaultCircuitBreakerThresholds",
    ),
    VersionChange(
        "1.7",
        "outlierDetection.consecutiveErrors",
        Msg("translate.version.v1_7.before"),
        Msg("translate.version.v1_7.now", n=defaults.ENVOY_DEFAULT_CONSECUTIVE_5XX,
            enforcing=defaults.ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_5XX),
        "commit a291ab60276 'Stop using OutlierDetection.ConsecutiveErrors'; validation.go",
    ),
    VersionChange(
        "1.10",
        "circuit_breakers.thresholds[0].track_remaining",
        Msg("translate.version.v1_10.before"),
        Msg("translate.version.v1_10.now"),
        "commit a49a2fa6140; cluster_traffic_policy.go getDefaultCircuitBreakerThresholds",
    ),
    VersionChange(
        "1.24",
        Msg("translate.version.v1_24.field"),
        Msg("translate.version.v1_24.before"),
        Msg("translate.version.v1_24.now"),
        "istio/istio#50506; Istio 1.24 release notes; pilot/pkg/features",
    ),
    VersionChange(
        "1.27",
        "trafficPolicy.retryBudget",
        Msg("translate.version.v1_27.before"),
        Msg("translate.version.v1_27.now"),
        "commit cef716e3b83; istio/api#3512; cluster_traffic_policy.go applyRetryBudget",
    ),
    VersionChange(
        "1.28",
        Msg("translate.version.v1_28.field"),
        Msg("translate.version.v1_28.before"),
        Msg("translate.version.v1_28.now"),
        "istio/istio#57569 (issue #57583); cluster_traffic_policy.go applyTrafficPolicy",
    ),
    VersionChange(
        "1.29",
        "circuit_breakers.thresholds[0].track_remaining",
        "true (1.10-1.28)",
        Msg("translate.version.v1_29.now"),
        "commit 615dea44101; pilot/pkg/features/pilot.go",
    ),
    VersionChange(
        "1.30",
        Msg("translate.version.v1_30.field"),
        Msg("translate.version.v1_30.before"),
        Msg("translate.version.v1_30.now", percent=defaults.ISTIO_DEFAULT_RETRY_BUDGET_PERCENT),
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


def istiod_version_warning(reported: str | None) -> Msg | None:
    """A warning when istiod's version is not the release the translator follows; ``None`` when it is.

    Compares major.minor only (patch releases do not change these behaviours) and lists the rows of
    :data:`CHANGES` that differ between the two releases, so the student knows which shown fields may differ
    from what the sidecars really run. A ``Msg``: English as a ``str``, ``render(warning, "zh")`` in Chinese.
    """
    pinned = _minor(ISTIO_VERSION)
    got = parse_minor(reported or "")
    if got is None or reported is None:
        return Msg("translate.version.unreadable", reported=reported, version=ISTIO_VERSION)
    if got == pinned:
        return None
    low, high = min(got, pinned), max(got, pinned)
    differing = [c for c in CHANGES if low < _minor(c.since) <= high]
    who = Msg("translate.version.cluster_lacks") if got < pinned else Msg("translate.version.lab_unaware")
    if not differing:
        return Msg("translate.version.no_changes", reported=reported.strip(), version=ISTIO_VERSION, who=who)
    # One line per change, each holding the lines after it (a Msg renders its values in the same language).
    lines = Msg("translate.version.install", version=ISTIO_VERSION)
    for c in reversed(differing):
        lines = Msg("translate.version.change", since=c.since, field=c.field, now=c.now, before=c.before,
                    more=lines)
    return Msg("translate.version.changes", reported=reported.strip(), version=ISTIO_VERSION, who=who,
               changes=lines)
