"""The outlier-detection DestinationRule of lab 02, written from slider values, and what Envoy makes of it.

``OutlierSettings`` holds Istio's ``trafficPolicy.outlierDetection`` fields (plus an optional
connectionPool for the "overflows do not count" step). ``SEED`` is the book's rule; ``LAB`` the short-time
variant the notebook runs. ``write_rule()`` writes the YAML and validates it through ``lablib.manifests``
(when that module is present), so a slider can never produce a rule the lab would reject later.
``effective_envoy()`` explains the mapping (istio-to-envoy.md §2): which Envoy ``outlier_detection`` values
result, Envoy defaults included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lablib._types import JSONDict, PathLike

__all__ = [
    "ENVOY_DEFAULTS",
    "LAB",
    "SEED",
    "OutlierSettings",
    "destination_rule",
    "effective_envoy",
    "seconds",
    "virtual_service",
    "write_rule",
    "write_virtual_service",
]

#: Envoy's own defaults when Istio leaves a field unset (data-plane-api ``outlier_detection.proto``).
ENVOY_DEFAULTS: dict[str, Any] = {
    "consecutive_5xx": 5,
    "enforcing_consecutive_5xx": 100,
    "consecutive_gateway_failure": 5,
    "enforcing_consecutive_gateway_failure": 0,
    "interval": "10s",
    "base_ejection_time": "30s",
    "max_ejection_time": "300s",
    "max_ejection_percent": 10,
}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str | float) -> float:
    """An Istio duration (``"15s"``, ``"3m"``, ``"500ms"``) in seconds."""
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return float(duration)
    m = _DURATION.match(str(duration).strip())
    if not m:
        raise ValueError(f"{duration!r} is not a duration like '1s', '15s', '3m' or '500ms'")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


@dataclass(frozen=True, kw_only=True)
class OutlierSettings:
    """Istio ``outlierDetection`` fields (None = not written, so Istio/Envoy defaults apply)."""

    #: ``consecutive5xxErrors``: any 5xx counts (500 included). Envoy ``consecutive_5xx``.
    consecutive_5xx_errors: int | None = 3
    #: ``consecutiveGatewayErrors``: only 502/503/504 (and connect failures) count.
    #: Envoy ``consecutive_gateway_failure``.
    consecutive_gateway_errors: int | None = None
    #: ``consecutiveErrors``: the seed's field, deprecated and IGNORED by Istio >= 1.7.
    consecutive_errors: int | None = None
    #: ``interval``: how often Envoy sweeps (un-ejection is only checked then).
    interval: str = "1s"
    #: ``baseEjectionTime``: first ejection length; multiplied on repeated
    #: ejections, capped at max(300s, base).
    base_ejection_time: str = "15s"
    #: ``maxEjectionPercent``: at most this share of the cluster's hosts out at once (Envoy default 10).
    max_ejection_percent: int | None = 100
    #: ``minHealthPercent``: Envoy's panic threshold; Istio writes 0 (panic routing off) when unset.
    min_health_percent: int | None = None
    #: Optional ``trafficPolicy.connectionPool`` (Istio field names), for the breaker-overflow step.
    connection_pool: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("consecutive_5xx_errors", "consecutive_gateway_errors", "consecutive_errors"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
        for name in ("max_ejection_percent", "min_health_percent"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int) and 0 <= v <= 100):
                raise ValueError(f"{name} must be a whole number 0-100, got {v!r}")
        seconds(self.interval)
        seconds(self.base_ejection_time)

    @property
    def interval_s(self) -> float:
        return seconds(self.interval)

    @property
    def base_ejection_time_s(self) -> float:
        return seconds(self.base_ejection_time)

    def replace(self, **changes: Any) -> OutlierSettings:
        return replace(self, **changes)

    def istio_fields(self) -> JSONDict:
        """``trafficPolicy.outlierDetection`` as Istio spells it, in the order the docs list the fields."""
        out: JSONDict = {}
        if self.consecutive_errors is not None:
            out["consecutiveErrors"] = self.consecutive_errors
        if self.consecutive_gateway_errors is not None:
            out["consecutiveGatewayErrors"] = self.consecutive_gateway_errors
        if self.consecutive_5xx_errors is not None:
            out["consecutive5xxErrors"] = self.consecutive_5xx_errors
        out["interval"] = self.interval
        out["baseEjectionTime"] = self.base_ejection_time
        if self.max_ejection_percent is not None:
            out["maxEjectionPercent"] = self.max_ejection_percent
        if self.min_health_percent is not None:
            out["minHealthPercent"] = self.min_health_percent
        return out


#: The seed's rule (circuit-breaking-seed.md, lines 14-18).
SEED = OutlierSettings(consecutive_5xx_errors=None, consecutive_errors=3, interval="3s",
                       base_ejection_time="3m", max_ejection_percent=100)
#: The short-time variant the lab runs (manifests/istio/resilience/destination-rule-go-outlier.yaml).
LAB = OutlierSettings(consecutive_5xx_errors=3, interval="1s", base_ejection_time="15s",
                      max_ejection_percent=100)


def destination_rule(settings: OutlierSettings = LAB, *, name: str = "service-go", host: str = "service-go",
                     subsets: bool = True) -> JSONDict:
    """The DestinationRule object (plain data) with ``settings`` as its ``trafficPolicy``."""
    policy: JSONDict = {}
    if settings.connection_pool:
        policy["connectionPool"] = settings.connection_pool
    policy["outlierDetection"] = settings.istio_fields()
    spec: JSONDict = {"host": host, "trafficPolicy": policy}
    if subsets:
        spec["subsets"] = [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": name},
            "spec": spec}


def write_rule(path: PathLike, settings: OutlierSettings = LAB, *, comment: str = "", **kwargs: Any) -> Path:
    """Write the DestinationRule YAML to ``path``, validate it like ``lab.apply`` would, and return the path.

    Raises ``ValidationFailed`` (from ``lablib.manifests``) naming the file and line if the rule is invalid.
    """
    out = Path(path)
    header = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    header += "# Written by lablib.outlier.write_rule from the lab's parameters.\n"
    out.write_text(header + yaml.safe_dump(destination_rule(settings, **kwargs), sort_keys=False))
    _validate(out)
    return out


def _validate(path: Path) -> None:
    try:
        from lablib.manifests import validate_files
    except ImportError:  # manifests package not there yet: apply() validates anyway
        return
    from lablib._exceptions import ValidationFailed

    problems = validate_files([path])
    if any(getattr(p, "severity", "error") == "error" for p in problems):
        raise ValidationFailed(problems)


def effective_envoy(settings: OutlierSettings) -> list[tuple[str, str, str, str]]:
    """Rows (Envoy field, value Envoy uses, from which Istio field, why) for the notebook's explanation table.

    Follows Istio's ``applyOutlierDetection`` (istio-to-envoy.md §2): ``consecutiveErrors`` maps to nothing.
    """
    rows: list[tuple[str, str, str, str]] = []
    c5 = settings.consecutive_5xx_errors
    if c5 is None:
        why = ("consecutiveErrors is ignored by Istio >= 1.7; Envoy's default applies"
               if settings.consecutive_errors is not None else "unset: Envoy's default")
        src = "consecutiveErrors: ignored" if settings.consecutive_errors is not None else "-"
        rows.append(("consecutive_5xx", str(ENVOY_DEFAULTS["consecutive_5xx"]), src, why))
        rows.append(("enforcing_consecutive_5xx", "100", "-", "Envoy's default: 5xx ejection is on"))
    else:
        rows.append(("consecutive_5xx", str(c5), "consecutive5xxErrors", "any 5xx counts, 500 included"))
        rows.append(("enforcing_consecutive_5xx", "100" if c5 > 0 else "0", "consecutive5xxErrors",
                     "Istio enforces when > 0"))
    cg = settings.consecutive_gateway_errors
    if cg is None:
        rows.append(("enforcing_consecutive_gateway_failure", "0", "-",
                     "Envoy's default: gateway errors are counted but never eject"))
    else:
        rows.append(("consecutive_gateway_failure", str(cg), "consecutiveGatewayErrors",
                     "only 502/503/504 count; a 500 resets nothing and counts nothing"))
        rows.append(("enforcing_consecutive_gateway_failure", "100" if cg > 0 else "0",
                     "consecutiveGatewayErrors", "Istio enforces when > 0"))
    rows.append(("interval", f"{settings.interval_s:g}s", "interval",
                 "sweep period; returns are checked then"))
    base = settings.base_ejection_time_s
    rows.append(("base_ejection_time", f"{base:g}s", "baseEjectionTime",
                 "first ejection; grows when repeated"))
    rows.append(("max_ejection_time", f"{max(300.0, base):g}s", "-",
                 "Istio leaves it unset: max(300s, base)"))
    mep = settings.max_ejection_percent
    rows.append(("max_ejection_percent", str(mep if mep else ENVOY_DEFAULTS["max_ejection_percent"]),
                 "maxEjectionPercent" if mep else "-", "Envoy ejects only if 100*(ejected+1)/hosts <= this"))
    rows.append(("enforcing_success_rate", "0", "(block present)", "Istio turns success-rate ejection off"))
    mhp = settings.min_health_percent
    rows.append(("common_lb_config.healthy_panic_threshold", f"{mhp or 0}%",
                 "minHealthPercent" if mhp is not None else "-",
                 "0 = no panic routing: all hosts out -> 503 no healthy upstream (UH)"))
    return rows


def virtual_service(*, attempts: int = 2, retry_on: str = "5xx", host: str = "service-go",
                    name: str = "service-go") -> JSONDict:
    """The book's VirtualService (``virtual-service-go.yaml``) plus ``retries``, to show what retries hide."""
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": name},
            "spec": {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}],
                                                 "retries": {"attempts": attempts, "retryOn": retry_on}}]}}


def write_virtual_service(path: PathLike, *, attempts: int = 2, retry_on: str = "5xx", **kwargs: Any) -> Path:
    """Write ``virtual_service()`` to ``path``, validated like ``write_rule``."""
    out = Path(path)
    vs = virtual_service(attempts=attempts, retry_on=retry_on, **kwargs)
    out.write_text("# Written by lablib.outlier.write_virtual_service: the book's route, with retries.\n"
                   + yaml.safe_dump(vs, sort_keys=False))
    _validate(out)
    return out
