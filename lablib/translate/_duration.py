"""Durations: Istio's YAML form (``3m``, ``1.5s``, ``500ms``) to proto3 JSON (``"180s"``, ``"1.500s"``)."""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["to_duration", "to_seconds"]

_UNITS = {
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
    "us": Decimal("0.000001"),
    "µs": Decimal("0.000001"),
    "ns": Decimal("0.000000001"),
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")


def _decimal_seconds(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    text = str(value).strip()
    if not text:
        raise ValueError("empty duration")
    pos, total = 0, Decimal(0)
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += Decimal(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{text!r} is not a duration like '3s', '3m', '1.5s' or '500ms'")
    return total


def to_seconds(value: object) -> float:
    """Seconds as a float: ``to_seconds("3m") == 180.0``."""
    return float(_decimal_seconds(value))


def to_duration(value: object) -> str:
    """A proto3 JSON ``google.protobuf.Duration``: whole seconds as ``"180s"``, else 3/6/9 fraction digits."""
    total = _decimal_seconds(value)
    if total < 0:
        raise ValueError(f"{value!r}: a duration cannot be negative")
    nanos = int((total * 1_000_000_000).to_integral_value())
    secs, frac = divmod(nanos, 1_000_000_000)
    if frac == 0:
        return f"{secs}s"
    if frac % 1_000_000 == 0:
        return f"{secs}.{frac // 1_000_000:03d}s"
    if frac % 1000 == 0:
        return f"{secs}.{frac // 1000:06d}s"
    return f"{secs}.{frac:09d}s"
