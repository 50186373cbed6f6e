"""Durations as Go reads them (``1m30s``, ``1.5s``, ``500ms``, ``-1s``, ``0``): the lab's one parser.

Istio reads every duration of a manifest with Go's ``time.ParseDuration`` (the protobuf ``Duration`` fields go
through jsonpb, which calls it, and the CRDs' ``duration(self)`` rules use the same grammar); fortio's flags
are Go ``flag.Duration`` values and fortio prints durations with Go's ``Duration.String``. So the validator,
the translator, the fortio flags and reader and the labs' settings all read durations here, with Go's rules:

- an optional sign, then one or more ``<number><unit>``: ``1h2m3.5s``; a number is ``12``, ``1.5``, ``1.``
  or ``.5``; the units are ``ns``, ``us``, ``µs`` (U+00B5), ``μs`` (U+03BC), ``ms``, ``s``, ``m``, ``h``;
- ``0`` (and ``+0``, ``-0``) is the only number allowed without a unit; nothing else (no spaces, no ``d``);
- the value is whole nanoseconds in Go's int64: at most 2^63-1 ns (2562047h47m16.854775807s, about 292
  years), else the text is refused ("overflow"). A fraction is computed exactly and truncated to the
  nanosecond (Go passes it through a float64 and ignores digits past the 18th, as this does).

Callers turn :class:`DurationError` into their own positioned, translated message.
"""

from __future__ import annotations

import re
from typing import Final, Literal

__all__ = [
    "MAX_NANOS",
    "NANOS_PER_SECOND",
    "DurationError",
    "parse_nanos",
    "parse_seconds",
    "proto_json",
    "to_proto_json",
]

NANOS_PER_SECOND: Final = 1_000_000_000
#: Go's ``time.Duration`` is an int64 of nanoseconds: the longest duration Istio and fortio can read.
MAX_NANOS: Final = 2**63 - 1

_UNIT_NANOS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek small letter mu
    "ms": 1_000_000,
    "s": NANOS_PER_SECOND,
    "m": 60 * NANOS_PER_SECOND,
    "h": 3600 * NANOS_PER_SECOND,
}
_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?")
_UNIT = re.compile(r"[^0-9.]*")
#: Digits past these carry nothing Go keeps: 19 whole digits already pass 2^63 (an overflow), and Go's
#: leadingFraction stops adding fraction digits once 18 are read.
_MAX_WHOLE_DIGITS = 19
_MAX_FRACTION_DIGITS = 18

Reason = Literal["empty", "syntax", "missing_unit", "unknown_unit", "overflow"]


class DurationError(ValueError):
    """``text`` is not a Go duration; ``reason`` says why (Go's ``invalid duration``, ``missing unit``,
    ``unknown unit``), ``unit`` names the unknown unit."""

    def __init__(self, text: str, reason: Reason, unit: str = "") -> None:
        self.text, self.reason, self.unit = text, reason, unit
        super().__init__(f"{text!r} is not a duration ({reason.replace('_', ' ')})")


def parse_nanos(text: str) -> int:
    """``text`` as whole nanoseconds (negative for ``-1s``); :class:`DurationError` if Go would refuse it."""
    if not isinstance(text, str):
        raise TypeError(f"a duration is text, not {type(text).__name__}")
    s, negative = text, False
    if s[:1] in ("-", "+"):
        negative, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise DurationError(text, "empty" if not text else "syntax")
    limit = MAX_NANOS + 1 if negative else MAX_NANOS  # Go reads "-9223372036854775808ns"
    total, pos = 0, 0
    while pos < len(s):
        number = _NUMBER.match(s, pos)
        assert number is not None  # the pattern matches the empty string
        whole, fraction = number.group(1), number.group(2)
        if not whole and not fraction:  # "s", ".s", "-.": no digit before the unit
            raise DurationError(text, "syntax")
        unit_match = _UNIT.match(s, number.end())
        assert unit_match is not None
        unit = unit_match.group()
        if not unit:
            raise DurationError(text, "missing_unit")
        scale = _UNIT_NANOS.get(unit)
        if scale is None:
            raise DurationError(text, "unknown_unit", unit)
        whole = whole.lstrip("0")
        if len(whole) > _MAX_WHOLE_DIGITS:
            raise DurationError(text, "overflow")
        total += int(whole or "0") * scale
        if fraction:
            digits = fraction[:_MAX_FRACTION_DIGITS]
            total += int(digits) * scale // 10 ** len(digits)
        if total > limit:
            raise DurationError(text, "overflow")
        pos = unit_match.end()
    return -total if negative else total


def parse_seconds(text: str) -> float:
    """``text`` in seconds (``parse_seconds("1m30s") == 90.0``); :class:`DurationError` as parse_nanos."""
    return parse_nanos(text) / NANOS_PER_SECOND


def proto_json(nanos: int) -> str:
    """A ``google.protobuf.Duration`` in proto3 JSON, as Envoy's config takes it: ``"90s"``, ``"1.500s"``
    (0, 3, 6 or 9 fraction digits, as protobuf writes them)."""
    sign = "-" if nanos < 0 else ""
    secs, frac = divmod(abs(nanos), NANOS_PER_SECOND)
    if frac == 0:
        return f"{sign}{secs}s"
    if frac % 1_000_000 == 0:
        return f"{sign}{secs}.{frac // 1_000_000:03d}s"
    if frac % 1000 == 0:
        return f"{sign}{secs}.{frac // 1000:06d}s"
    return f"{sign}{secs}.{frac:09d}s"


def to_proto_json(text: str) -> str:
    """Istio's YAML duration as Envoy's proto3 JSON: ``to_proto_json("3m") == "180s"``."""
    return proto_json(parse_nanos(text))
