"""Field types, a small schema language: each type checks a value and reports Problems with their fix.

Istio kinds are checked strictly (unknown fields are errors, with "did you mean"); Kubernetes kinds leniently
(only unknown fields that are clearly typos of a known one are errors), since the lab does not model every
Kubernetes field.
"""

from __future__ import annotations

import difflib
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from lablib._duration import MAX_NANOS, NANOS_PER_SECOND, DurationError, parse_nanos
from lablib.i18n import Msg
from lablib.manifests._problem import Problem, Severity
from lablib.manifests._yaml import child_path
from lablib.manifests.objects import Manifest
from lablib.translate import defaults

__all__ = [
    "AnyValue",
    "Bool",
    "Checker",
    "Deprecated",
    "Duration",
    "Enum",
    "Int",
    "IntOrString",
    "ListOf",
    "Map",
    "MapOf",
    "Number",
    "Quantity",
    "Regex",
    "Str",
    "Type",
    "both",
    "describe",
    "either",
    "parse_quantity",
]


@dataclass
class Checker:
    """Collects the problems of one manifest, positioned with its ``line_of``."""

    manifest: Manifest
    problems: list[Problem] = field(default_factory=list)
    #: field name -> where it lives in this kind (for "maxConnections belongs under connectionPool.tcp").
    locations: dict[str, list[str]] = field(default_factory=dict)

    def report(self, severity: Severity, path: str, message: str, fix: str) -> None:
        m = self.manifest
        self.problems.append(
            Problem(
                severity,
                m.source.file,
                m.line_of(path),
                message,
                fix=fix,
                kind=m.kind,
                name=m.name,
                path=path,
            )
        )

    def error(self, path: str, message: str, fix: str) -> None:
        self.report("error", path, message, fix)

    def warning(self, path: str, message: str, fix: str) -> None:
        self.report("warning", path, message, fix)


def describe(value: Any) -> Msg:
    """How a value reads in a message: ``the string '10'``, ``the number 1.0``, ``a list`` (a ``Msg``)."""
    if value is None:
        return Msg("schema.describe.empty")
    if isinstance(value, bool):
        return Msg("schema.describe.boolean", value=str(value).lower())
    if isinstance(value, (int, float)):
        return Msg("schema.describe.number", value=show_number(value))
    if isinstance(value, str):
        return Msg("schema.describe.string", value=value if len(value) <= 80 else value[:77] + "...")
    if isinstance(value, dict):
        return Msg("schema.describe.mapping")
    if isinstance(value, list):
        return Msg("schema.describe.list")
    return Msg("schema.describe.other", type=type(value).__name__)


def either(names: Sequence[Any]) -> Any:
    """``a or b or c`` (one name alone as it is); a list as the first item: ``[a, b], c`` -> ``a, b or c``."""
    out = names[0]
    for name in names[1:]:
        out = Msg("schema.or", first=out, then=name)
    return out


def both(names: Sequence[Any]) -> Any:
    """``a and b and c`` (one name alone as it is)."""
    out = names[0]
    for name in names[1:]:
        out = Msg("schema.and", first=out, then=name)
    return out


#: The largest proto ``int32`` (Istio's plain integer fields); uint32's is ``defaults.MAX_UINT32``.
INT32_MAX = 2**31 - 1


def show_number(value: float) -> str:
    """A number as YAML would write it: ``.inf``/``.nan`` for the non-finite, a digit count for huge ints
    (Python refuses to print ints of more than 4300 digits)."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, int) and abs(value) > 10**30:
        return Msg("schema.number.huge", sign="-" if value < 0 else "", digits=len(hex(abs(value))) - 2)
    return str(value)


class Type(ABC):
    """A field type. ``check`` reports every problem of ``value`` at ``path``."""

    #: What the type is called in messages ("an integer"): a ``Msg``, part of the sentences below.
    what: str = Msg("schema.type.value")

    @abstractmethod
    def check(self, value: Any, path: str, c: Checker) -> None:
        """Report every problem of ``value`` (found at ``path``) to ``c``."""

    def mismatch(self, value: Any, path: str, c: Checker, fix: str = "") -> None:
        c.error(
            path,
            Msg("schema.type.mismatch", expected=self.what, got=describe(value)),
            fix or Msg("schema.type.write_here", what=self.what),
        )


class AnyValue(Type):
    """Accepted as is: blocks the lab passes through without modelling them."""

    def check(self, value: Any, path: str, c: Checker) -> None:
        return None


class Str(Type):
    """A string, optionally matching a pattern (names, label values)."""

    what = Msg("schema.type.string")

    def __init__(self, pattern: str | None = None, rule: str = "", max_len: int | None = None) -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.rule = rule
        self.max_len = max_len

    def check(self, value: Any, path: str, c: Checker) -> None:
        if not isinstance(value, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.mismatch(value, path, c, Msg("schema.str.quote_number", value=str(value)))
            elif isinstance(value, bool):
                self.mismatch(value, path, c, Msg("schema.str.quote_boolean", value=str(value).lower()))
            else:
                self.mismatch(value, path, c)
            return
        too_long = self.max_len is not None and len(value) > self.max_len
        # The length first: a pattern run on a megabyte-long string could backtrack for minutes.
        if too_long or (self.pattern and not self.pattern.fullmatch(value)):
            shown = value if len(value) <= 80 else value[:77] + "..."
            c.error(path, Msg("schema.str.invalid", value=shown, rule=self.rule), Msg("schema.str.rename"))


class Regex(Str):
    """A regular expression as Envoy runs it: Google RE2 (Istio checks it with Go's RE2 ``regexp``), checked
    with RE2 itself (google-re2): it must compile (no lookaround, no backreferences) and fit Envoy's program
    size limit."""

    what = Msg("schema.type.regex")

    def check(self, value: Any, path: str, c: Checker) -> None:
        super().check(value, path, c)
        if not isinstance(value, str):
            return
        if not value:  # Istio's validateStringMatchRegexp; Envoy's RegexMatcher.regex has min_len 1
            c.error(path, Msg("schema.regex.empty"), Msg("schema.regex.empty_fix"))
            return
        shown = value if len(value) <= 80 else value[:77] + "..."
        options = re2.Options()
        options.log_errors = False  # RE2 would print its own line on stderr
        try:
            size = re2.compile(value, options).programsize
        except re2.error as exc:
            said = exc.args[0] if exc.args else exc
            reason = said.decode(errors="replace") if isinstance(said, bytes) else said
            c.error(
                path,
                Msg("schema.regex.invalid", value=shown, reason=str(reason)),
                Msg("schema.regex.invalid_fix"),
            )
            return
        if size > defaults.ENVOY_RE2_MAX_PROGRAM_SIZE:
            c.error(
                path,
                Msg("schema.regex.too_big", value=shown, size=size, most=defaults.ENVOY_RE2_MAX_PROGRAM_SIZE),
                Msg("schema.regex.too_big_fix"),
            )


class Enum(Type):
    """One string out of a fixed set (case matters, as in the Kubernetes and Istio APIs)."""

    def __init__(self, *values: str) -> None:
        self.values = values
        self.what = Msg("schema.type.one_of", values=list(values))

    def check(self, value: Any, path: str, c: Checker) -> None:
        if value not in self.values:
            close = [v for v in self.values if isinstance(value, str) and v.lower() == value.lower()]
            close = close or difflib.get_close_matches(str(value), self.values, n=1, cutoff=0.6)
            fix = (
                Msg("schema.did_you_mean", name=close[0])
                if close
                else Msg("schema.enum.use_one_of", values=list(self.values))
            )
            c.error(path, Msg("schema.enum.not_allowed", value=describe(value), expected=self.what), fix)


class Int(Type):
    """A whole number with bounds; ``zero`` explains what 0 really means, as a warning.

    ``proto`` names the field's type in Istio's API (``int32``, ``uint32``, ``google.protobuf.UInt32Value``):
    the range message says it. A wrapper (``…Value``) is written as the plain number in YAML, like ``int32``;
    what differs is that an explicit 0 is a value, not "unset".
    """

    what = Msg("schema.type.integer")

    def __init__(
        self,
        min: int | None = None,
        max: int | None = None,
        zero: str | None = None,
        proto: str = "",
        max_why: str = "",
    ) -> None:
        self.min, self.max, self.zero, self.proto, self.max_why = min, max, zero, proto, max_why

    def check(self, value: Any, path: str, c: Checker) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,30}", value.strip()):
                self.mismatch(value, path, c, Msg("schema.unquote", value=value.strip()))
            elif isinstance(value, float) and math.isfinite(value) and abs(value) < 1e30:
                self.mismatch(value, path, c, Msg("schema.int.whole", value=int(value)))
            elif isinstance(value, dict) and "value" in value and self.proto.endswith("Value"):
                _wrapped_as_mapping(value, path, self.proto, c)
            else:
                self.mismatch(value, path, c, self._range_fix())
            return
        _bounds(value, self.min, self.max, path, c, self.proto, self.max_why)
        if value == 0 and self.zero:
            c.warning(path, self.zero, Msg("schema.int.zero_fix"))

    def _range_fix(self) -> str:
        if self.min is not None and self.max is not None:
            return Msg("schema.int.range_fix", lo=self.min, hi=self.max)
        return Msg("schema.type.write", what=self.what)


def _wrapped_as_mapping(value: dict[str, Any], path: str, proto: str, c: Checker) -> None:
    leaf = path.rsplit(".", 1)[-1]
    c.error(
        path,
        Msg("schema.wrapped.message", proto=proto),
        Msg("schema.wrapped.fix", leaf=leaf, value=str(value["value"])),
    )


def _bounds(
    value: float, lo: float | None, hi: float | None, path: str, c: Checker, proto: str = "", why: str = ""
) -> None:
    shown = show_number(value)
    if lo is not None and value < lo:
        message = (
            Msg("schema.range.negative", value=shown, lo=str(lo))
            if lo == 0
            else Msg("schema.range.below", value=shown, lo=str(lo))
        )
        c.error(path, message, Msg("schema.range.at_least_fix", lo=str(lo)))
    elif hi is not None and value > hi and why:
        c.error(
            path,
            Msg("schema.range.above_lab", value=shown, hi=str(hi), why=why),
            Msg("schema.range.at_most_fix", hi=str(hi)),
        )
    elif hi is not None and value > hi:
        message = (
            Msg("schema.range.above_typed", value=shown, hi=str(hi), proto=proto)
            if proto
            else Msg("schema.range.above", value=shown, hi=str(hi))
        )
        c.error(path, message, Msg("schema.range.from_to_fix", lo=str(lo), hi=str(hi)))


class Number(Type):
    """A finite number (integer or decimal) with bounds: percentages. ``proto`` as in ``Int``."""

    what = Msg("schema.type.number")

    def __init__(self, min: float | None = None, max: float | None = None, proto: str = "") -> None:
        self.min, self.max, self.proto = min, max, proto

    def check(self, value: Any, path: str, c: Checker) -> None:
        if isinstance(value, dict) and "value" in value and self.proto.endswith("Value"):
            _wrapped_as_mapping(value, path, self.proto, c)
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.mismatch(value, path, c)
            return
        if isinstance(value, float) and not math.isfinite(value):
            c.error(
                path,
                Msg("schema.number.not_finite", value=show_number(value)),
                Msg("schema.number.from_to_fix", lo=str(self.min), hi=str(self.max)),
            )
            return
        _bounds(value, self.min, self.max, path, c, self.proto)


class Bool(Type):
    what = Msg("schema.type.boolean")

    def check(self, value: Any, path: str, c: Checker) -> None:
        if not isinstance(value, bool):
            fix = (
                Msg("schema.unquote", value=value.strip().lower())
                if isinstance(value, str) and value.strip().lower() in ("true", "false")
                else Msg("schema.bool.fix")
            )
            self.mismatch(value, path, c, fix)


class IntOrString(Type):
    """A port number or a port name (Service targetPort)."""

    what = Msg("schema.type.port")

    def check(self, value: Any, path: str, c: Checker) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self.mismatch(value, path, c)
        elif isinstance(value, int):
            _bounds(value, 1, 65535, path, c)


_MILLISECOND = NANOS_PER_SECOND // 1000
MAX_SECONDS = MAX_NANOS / NANOS_PER_SECOND


class Duration(Type):
    """An Istio duration string, read as Istio reads it (Go's ``time.ParseDuration``, ``lablib._duration``);
    Istio requires at least 1ms and millisecond precision, and Go's range (about 292 years)."""

    what = Msg("schema.type.duration")

    def __init__(self, *, min_s: float = 1e-3, max_s: float = MAX_SECONDS, why: str = "") -> None:
        #: Bounds tighter than Istio's own (1ms, Go's maximum), with ``why``: a field Istio turns into whole
        #: seconds in a uint32 (tcpKeepalive) needs at least 1s and at most 2^32-1 s.
        self.min_s, self.max_s, self.why = min_s, max_s, why

    def check(self, value: Any, path: str, c: Checker) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.mismatch(value, path, c, Msg("schema.duration.add_unit", value=show_number(value)))
            return
        if not isinstance(value, str):
            self.mismatch(value, path, c)
            return
        shown = value if len(value) <= 40 else value[:37] + "..."
        try:
            nanos = parse_nanos(value)
        except DurationError as exc:
            if exc.reason == "overflow":  # past Go's int64 of nanoseconds
                message = Msg("schema.duration.too_long", value=shown)
                fix = Msg("schema.duration.too_long_fix")
            else:
                message = Msg("schema.duration.invalid", value=shown)
                fix = Msg("schema.duration.invalid_fix")
            c.error(path, message, fix)
            return
        if nanos < 0:
            c.error(path, Msg("schema.duration.negative", value=shown), Msg("schema.duration.too_short_fix"))
        elif nanos < _MILLISECOND:
            c.error(path, Msg("schema.duration.too_short", value=shown), Msg("schema.duration.too_short_fix"))
        elif not self.min_s * NANOS_PER_SECOND <= nanos <= self.max_s * NANOS_PER_SECOND:
            c.error(
                path,
                Msg("schema.duration.out_of_range", value=shown, why=self.why),
                Msg("schema.duration.from_to_fix", lo=self.min_s, hi=self.max_s),
            )
        elif nanos % _MILLISECOND:
            c.error(path, Msg("schema.duration.too_fine", value=shown), Msg("schema.duration.too_fine_fix"))


_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?")
_QUANTITY_SUFFIX = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def parse_quantity(value: Any) -> float | None:
    """A Kubernetes resource quantity (``50m``, ``100Mi``, ``1``) as a number; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _QUANTITY.fullmatch(value.strip())
    if not match:
        return None
    number, suffix = float(match.group(1)), match.group(2)
    if suffix and suffix[0] in "eE":
        return number * 10 ** int(suffix[1:])
    return number * _QUANTITY_SUFFIX[suffix]


class Quantity(Type):
    """A Kubernetes resource quantity: cpu ``50m`` (millicores), memory ``100Mi``."""

    what = Msg("schema.type.quantity")

    def check(self, value: Any, path: str, c: Checker) -> None:
        number = parse_quantity(value)
        if number is None:
            c.error(
                path,
                Msg("schema.quantity.invalid", value=describe(value)),
                Msg("schema.quantity.invalid_fix"),
            )
        elif number < 0:
            c.error(
                path, Msg("schema.quantity.negative", value=str(value)), Msg("schema.quantity.negative_fix")
            )
        elif path.endswith(".memory") and isinstance(value, str) and value.strip().endswith("m"):
            c.warning(
                path,
                Msg("schema.quantity.millibytes", value=value, number=value.strip()[:-1]),
                Msg("schema.quantity.millibytes_fix", number=value.strip()[:-1]),
            )


Rule = Callable[[dict[str, Any], str, Checker], None]


class Map(Type):
    """A mapping with known fields. ``strict``: any unknown field is an error; otherwise only clear typos.

    ``required`` maps a field to the fix that says what to write; ``rules`` check fields together.
    """

    what = Msg("schema.type.fields")

    def __init__(
        self,
        fields: dict[str, Type],
        *,
        required: dict[str, str] | None = None,
        strict: bool = True,
        rules: tuple[Rule, ...] = (),
        scalar_key: str | None = None,
    ) -> None:
        self.fields = fields
        self.required = required or {}
        self.strict = strict
        self.rules = rules
        #: A message with one field (Istio's Percent: ``{value: 10}``): a bare scalar gets "write it as …".
        self.scalar_key = scalar_key

    def check(self, value: Any, path: str, c: Checker) -> None:
        if value is None and not self.required:
            return
        if not isinstance(value, dict):
            if self.scalar_key and isinstance(value, (int, float, str)) and not isinstance(value, bool):
                leaf = path.rsplit(".", 1)[-1]
                shown = show_number(value) if not isinstance(value, str) else value
                self.mismatch(
                    value, path, c, Msg("schema.map.scalar_fix", leaf=leaf, key=self.scalar_key, value=shown)
                )
            else:
                self.mismatch(value, path, c)
            return
        for key, item in value.items():
            child = child_path(path, key)
            if key in self.fields:
                if item is not None or str(key) in self.required:
                    self.fields[key].check(item, child, c)
            else:
                self._unknown(str(key), child, c)
        for key, fix in self.required.items():
            if value.get(key) is None:
                where = f"{path}.{key}" if path else key
                c.error(where, Msg("schema.map.missing", key=key), fix)
        for rule in self.rules:
            rule(value, path, c)

    def _unknown(self, key: str, path: str, c: Checker) -> None:
        names = list(self.fields)
        elsewhere = c.locations.get(key) if self.strict else None
        if elsewhere:  # a real field, in the wrong block: maxConnections under http instead of tcp
            c.error(
                path,
                Msg("schema.map.misplaced", key=key),
                Msg("schema.map.move_under", places=either(elsewhere)),
            )
            return
        same_case = [n for n in names if n.lower() == key.lower()]
        close = same_case or difflib.get_close_matches(key, names, n=1, cutoff=0.6 if self.strict else 0.85)
        if close:
            c.error(path, Msg("schema.map.unknown", key=key), Msg("schema.did_you_mean", name=close[0]))
        elif self.strict:
            c.error(path, Msg("schema.map.unknown", key=key), Msg("schema.map.remove_fix", fields=names))


class MapOf(Type):
    """A mapping from free keys (label names, header names) to values of one type."""

    what = Msg("schema.type.mapping")

    def __init__(self, value: Type) -> None:
        self.value = value

    def check(self, value: Any, path: str, c: Checker) -> None:
        if not isinstance(value, dict):
            self.mismatch(value, path, c)
            return
        for key, item in value.items():
            if item is None and isinstance(self.value, Map):  # a Map would read null as "unset"
                c.error(child_path(path, str(key)), Msg("schema.map.null_item", key=str(key)),
                        Msg("schema.map.null_item_fix"))
            else:
                self.value.check(item, child_path(path, str(key)), c)


class ListOf(Type):
    """A list ('- ' items) of one type, with a minimum length and an optional cap (``max_why`` says why)."""

    what = Msg("schema.type.list")

    def __init__(
        self, item: Type, *, min_items: int = 0, max_items: int | None = None, max_why: str = ""
    ) -> None:
        self.item = item
        self.min_items = min_items
        self.max_items = max_items
        self.max_why = max_why

    def check(self, value: Any, path: str, c: Checker) -> None:
        if not isinstance(value, list):
            fix = Msg("schema.list.item_fix", value=value) if isinstance(value, str) else ""
            self.mismatch(value, path, c, fix)
            return
        if len(value) < self.min_items:
            c.error(path, Msg("schema.list.too_few", n=self.min_items), Msg("schema.list.too_few_fix"))
        if self.max_items is not None and len(value) > self.max_items:
            c.error(
                path,
                Msg("schema.list.too_many", n=len(value), most=self.max_items, why=self.max_why),
                Msg("schema.list.too_many_fix", most=self.max_items),
            )
            return  # past the cap: each item is not worth checking (and could be many)
        for index, item in enumerate(value):
            if item is None:  # `- ` with nothing after it: not an object with defaults
                c.error(f"{path}[{index}]", Msg("schema.list.empty_item"), Msg("schema.list.empty_item_fix"))
            else:
                self.item.check(item, f"{path}[{index}]", c)


class Deprecated(Type):
    """A field that still parses but should not be used: a warning that teaches, then the inner check."""

    def __init__(self, inner: Type, explain: Callable[[Any], tuple[str, str]]) -> None:
        self.inner = inner
        self.explain = explain

    def check(self, value: Any, path: str, c: Checker) -> None:
        message, fix = self.explain(value)
        c.warning(path, message, fix)
        self.inner.check(value, path, c)


def field_locations(t: Type, path: str = "", out: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every field name of a schema -> the dotted places it may appear (list indexes dropped)."""
    out = {} if out is None else out
    if isinstance(t, Map):
        for name, sub in t.fields.items():
            where = f"{path}.{name}" if path else name
            places = out.setdefault(name, [])
            if path and path not in places and len(places) < 3:
                places.append(path)
            if where.count(".") < 8:
                field_locations(sub, where, out)
    elif isinstance(t, (ListOf, MapOf)):
        field_locations(t.item if isinstance(t, ListOf) else t.value, path, out)
    elif isinstance(t, Deprecated):
        field_locations(t.inner, path, out)
    return out
