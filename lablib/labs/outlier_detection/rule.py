"""The outlier-detection DestinationRule of lab 02, written from slider values, and what Envoy makes of it.

``OutlierSettings`` holds Istio's ``trafficPolicy.outlierDetection`` fields (plus an optional
connectionPool for the "overflows do not count" step). ``SEED`` is the book's rule; ``LAB`` the short-time
variant the notebook runs. ``write_rule()`` builds the rule with ``lablib.manifests.builder`` (the one DR
builder of every lab) and validates the file like a hand-written one, so a slider can never produce a rule
the lab would reject later. ``effective_envoy()`` explains the mapping (istio-to-envoy.md §2): the Envoy
``outlier_detection`` values ``lablib.translate`` produces, with Envoy's defaults (``translate.defaults``)
where Istio leaves a field unset, and says why in the notebook's language (``lablib.i18n``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lablib._duration import DurationError, parse_seconds
from lablib._exceptions import ParameterError
from lablib._types import JSONDict, PathLike
from lablib.i18n import Msg, t
from lablib.manifests.builder import NETWORKING_API_VERSION, build_destination_rule, write_manifest
from lablib.translate import apply_outlier_detection, defaults

__all__ = [
    "LAB",
    "SEED",
    "OutlierSettings",
    "ParameterError",
    "destination_rule",
    "effective_envoy",
    "seconds",
    "virtual_service",
    "write_rule",
    "write_virtual_service",
]

def seconds(duration: str | float) -> float:
    """An Istio duration (``"15s"``, ``"1m30s"``, ``"500ms"``, proto JSON ``"0.500s"``) in seconds, read as
    Istio reads it (``lablib._duration``, the lab's one parser); a number is already seconds."""
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return float(duration)
    try:
        return parse_seconds(str(duration))
    except DurationError:
        raise ParameterError(Msg("outlier.rule.duration", duration=duration)) from None


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
                raise ParameterError(Msg("outlier.rule.count", name=name, value=v))
        for name in ("max_ejection_percent", "min_health_percent"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int) and 0 <= v <= 100):
                raise ParameterError(Msg("outlier.rule.percent", name=name, value=v))
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
    return build_destination_rule(name=name, host=host, subsets=("v1", "v2") if subsets else (),
                                  connection_pool=settings.connection_pool,
                                  outlier_detection=settings.istio_fields())


def write_rule(path: PathLike, settings: OutlierSettings = LAB, *, comment: str = "", lang: str = "en",
               **kwargs: Any) -> Path:
    """Write the DestinationRule YAML to ``path``, validate it like ``lab.apply`` would, and return the path.

    The file's header comment is ``comment`` and a note on where the file comes from, in ``lang`` (the
    notebook prints the file). Raises ``ValidationFailed`` (from ``lablib.manifests``) naming the file and
    line if the rule is invalid.
    """
    note = t("outlier.rule.written", lang)
    return write_manifest(path, destination_rule(settings, **kwargs),
                          comment=f"{comment}\n{note}" if comment else note)


def effective_envoy(settings: OutlierSettings, *, lang: str = "en") -> list[tuple[str, str, str, str]]:
    """Rows (Envoy field, value Envoy uses, from which Istio field, why) for the notebook's explanation table.

    The values are what ``lablib.translate`` (Istio's ``applyOutlierDetection``, istio-to-envoy.md §2) writes
    into the cluster, and Envoy's defaults for what it leaves unset: ``consecutiveErrors`` maps to nothing.
    The "why" (and the notes in the Istio column) are in ``lang``; field names and values never change.
    """
    cluster: JSONDict = {}
    apply_outlier_detection(cluster, settings.istio_fields())
    od = cluster["outlier_detection"]
    d = defaults

    def row(envoy: str, default: Any, istio: str, why: str, *, show: str | None = None) -> None:
        """One row: the translated value if the translator set ``envoy``, else Envoy's ``default``."""
        value = od.get(envoy, default)
        rows.append((envoy, show or str(value), istio if envoy in od else "-", why))

    rows: list[tuple[str, str, str, str]] = []
    on_by_default = t("outlier.rule.why.default_5xx_on", lang)
    if "consecutive_5xx" in od:
        row("consecutive_5xx", None, "consecutive5xxErrors", t("outlier.rule.why.any_5xx", lang))
        row("enforcing_consecutive_5xx", None, "consecutive5xxErrors", t("outlier.rule.why.enforced", lang))
    elif settings.consecutive_errors is not None:
        rows.append(("consecutive_5xx", str(d.ENVOY_DEFAULT_CONSECUTIVE_5XX), t("outlier.rule.ignored", lang),
                     t("outlier.rule.why.ignored", lang)))
        row("enforcing_consecutive_5xx", d.ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_5XX, "-", on_by_default)
    else:
        row("consecutive_5xx", d.ENVOY_DEFAULT_CONSECUTIVE_5XX, "-", t("outlier.rule.why.unset", lang))
        row("enforcing_consecutive_5xx", d.ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_5XX, "-", on_by_default)
    if "consecutive_gateway_failure" in od:
        row("consecutive_gateway_failure", None, "consecutiveGatewayErrors",
            t("outlier.rule.why.gateway_only", lang))
        row("enforcing_consecutive_gateway_failure", None, "consecutiveGatewayErrors",
            t("outlier.rule.why.enforced", lang))
    else:
        row("enforcing_consecutive_gateway_failure", d.ENVOY_DEFAULT_ENFORCING_CONSECUTIVE_GATEWAY_FAILURE,
            "-", t("outlier.rule.why.gateway_counted", lang))
    interval = od.get("interval", d.ENVOY_DEFAULT_INTERVAL)
    row("interval", None, "interval", t("outlier.rule.why.interval", lang), show=_as_seconds(interval))
    base = od.get("base_ejection_time", d.ENVOY_DEFAULT_BASE_EJECTION_TIME)
    row("base_ejection_time", None, "baseEjectionTime", t("outlier.rule.why.base_ejection_time", lang),
        show=_as_seconds(base))
    longest = max(seconds(d.ENVOY_DEFAULT_MAX_EJECTION_TIME), seconds(base))
    row("max_ejection_time", None, "-", t("outlier.rule.why.max_ejection_time", lang), show=f"{longest:g}s")
    row("max_ejection_percent", d.ENVOY_DEFAULT_MAX_EJECTION_PERCENT, "maxEjectionPercent",
        t("outlier.rule.why.max_ejection_percent", lang))
    rows.append(("enforcing_success_rate", str(od["enforcing_success_rate"]), t("outlier.rule.block", lang),
                 t("outlier.rule.why.success_rate", lang)))
    panic = cluster["common_lb_config"]["healthy_panic_threshold"]["value"]
    rows.append(("common_lb_config.healthy_panic_threshold", f"{panic}%",
                 "minHealthPercent" if settings.min_health_percent is not None else "-",
                 t("outlier.rule.why.panic", lang)))
    return rows


def _as_seconds(duration: str) -> str:
    """A proto3 JSON duration (``"180s"``, ``"0.500s"``) as the table writes it (``180s``, ``0.5s``)."""
    return f"{seconds(duration):g}s"


def virtual_service(*, attempts: int = 2, retry_on: str = "5xx", host: str = "service-go",
                    name: str = "service-go") -> JSONDict:
    """The book's VirtualService (``virtual-service-go.yaml``) plus ``retries``, to show what retries hide."""
    return {"apiVersion": NETWORKING_API_VERSION, "kind": "VirtualService", "metadata": {"name": name},
            "spec": {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}],
                                                 "retries": {"attempts": attempts, "retryOn": retry_on}}]}}


def write_virtual_service(path: PathLike, *, attempts: int = 2, retry_on: str = "5xx", **kwargs: Any) -> Path:
    """Write ``virtual_service()`` to ``path``, validated like ``write_rule``."""
    vs = virtual_service(attempts=attempts, retry_on=retry_on, **kwargs)
    note = "Written by lablib.labs.outlier_detection.write_virtual_service: the book's route, with retries."
    return write_manifest(path, vs, comment=note)
