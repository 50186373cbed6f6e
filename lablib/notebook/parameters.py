"""A notebook's parameters cell, read once and typed: what papermill or a student wrote becomes the values
the lab's cells expect, or one ``ParameterError`` in the notebook's language.

papermill's ``-p concurrency "[20, 40]"`` passes a *string*; a student may type ``concurrency = "20, 40"``.
Both reached ``sorted(...)`` deep in a run as ``TypeError: '<' not supported between 'str' and 'int'``. Each
lab declares its parameters (``lablib.labs.<lab>.parameters.PARAMETERS``: name -> ``Param``), and the cell
right after its parameters cell calls

    read_parameters(globals(), lab="01")      # lablib.labs: this module's read() with lab 01's declarations

which accepts what can be read one way only (``"20, 40"``, ``"[20, 40]"``, ``"20"``, ``20.0`` for an
integer), writes the typed values back into the notebook's namespace, and refuses the rest naming the
parameter, what was given and the expected type. Nothing else but ``ParameterError`` leaves ``read``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from lablib._exceptions import ParameterError
from lablib.i18n import DEFAULT_LANG, LANGS, Joined, Msg

__all__ = [
    "MISSING",
    "Duration",
    "Flag",
    "Int",
    "IntList",
    "Number",
    "OneOf",
    "Optional",
    "Param",
    "Text",
    "read",
]

#: A parameter without a default: left alone when the namespace does not define it.
MISSING: Final = object()
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPLIT = re.compile(r"[\s,]+")
#: Istio durations as lab 02's rule reads them (one number, one unit).
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SHOWN = 60  # characters of a refused value shown back


def _shown(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ is still a value we refuse, not a crash
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class _Refused(Exception):
    """Internal: this value is not one the parameter takes (becomes one line of the ParameterError)."""


@dataclass(frozen=True)
class Param:
    """One parameter: how a value is read (``read``) and what it should be (``expected``, a Msg)."""

    default: Any = field(default=MISSING, kw_only=True)

    def expected(self) -> Msg:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def read(self, value: Any) -> Any:  # pragma: no cover
        raise NotImplementedError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any, unit: str = "") -> float:
    """A finite number from an int, a float or a numeric string (``unit`` may follow it: ``"30%"``)."""
    if isinstance(value, bool):
        raise _Refused
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            raise _Refused from None
    elif isinstance(value, str):
        text = value.strip()
        if unit and text.endswith(unit):
            text = text[: -len(unit)].strip()
        if not _FLOAT.fullmatch(text):
            raise _Refused
        number = float(text)
    else:
        raise _Refused
    if not math.isfinite(number):
        raise _Refused
    return number


def _integer(value: Any) -> int:
    """An int from an int, an integral float (``20.0``) or an integer string (``" 20 "``)."""
    if _is_int(value):
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    number = _number(value)
    if not number.is_integer():
        raise _Refused
    return int(number)


@dataclass(frozen=True)
class Int(Param):
    """A whole number, at least ``low`` (and at most ``high`` when set)."""

    low: int | None = None
    high: int | None = None

    def expected(self) -> Msg:
        return _range_msg("int", self.low, self.high)

    def read(self, value: Any) -> int:
        number = _integer(value)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise _Refused
        return number


@dataclass(frozen=True)
class Number(Param):
    """A finite number in ``[low, high]``; ``unit`` may follow it in a string (``"30%"``)."""

    low: float | None = None
    high: float | None = None
    unit: str = ""

    def expected(self) -> Msg:
        return _range_msg("number", self.low, self.high)

    def read(self, value: Any) -> float:
        number = _number(value, self.unit)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise _Refused
        return number


def _range_msg(kind: str, low: float | None, high: float | None) -> Msg:
    if kind == "int":
        if low is not None and high is not None:
            return Msg("notebook.param.expect.int_between", low=low, high=high)
        return Msg("notebook.param.expect.int_from", low=low) if low is not None else Msg(
            "notebook.param.expect.int")
    if low is not None and high is not None and math.isfinite(high):
        return Msg("notebook.param.expect.number_between", low=low, high=high)
    return Msg("notebook.param.expect.number_from", low=low) if low is not None else Msg(
        "notebook.param.expect.number")


@dataclass(frozen=True)
class IntList(Param):
    """A non-empty list of whole numbers, each at least ``low`` (and at most ``high``): a list, one number,
    ``"20, 40"``, ``"20 40"`` or ``"[20, 40]"`` (JSON)."""

    low: int | None = None
    high: int | None = None

    def expected(self) -> Msg:
        if self.low is not None and self.high is not None:
            return Msg("notebook.param.expect.int_list_between", low=self.low, high=self.high)
        if self.low is not None:
            return Msg("notebook.param.expect.int_list_from", low=self.low)
        return Msg("notebook.param.expect.int_list")

    def read(self, value: Any) -> list[int]:
        items: Sequence[Any]
        if isinstance(value, (list, tuple)):
            items = value
        elif isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except (ValueError, RecursionError):
                    raise _Refused from None
                if not isinstance(items, list):
                    raise _Refused
            else:
                items = [x for x in _SPLIT.split(text) if x]
        else:
            items = [value]
        if not items:
            raise _Refused
        out = []
        for item in items:
            if isinstance(item, (list, tuple, dict)):
                raise _Refused
            number = _integer(item)
            if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
                raise _Refused
            out.append(number)
        return out


@dataclass(frozen=True)
class Flag(Param):
    """True or False (also the strings ``"true"``/``"false"``, any case, as papermill's ``-p`` may pass)."""

    def expected(self) -> Msg:
        return Msg("notebook.param.expect.flag")

    def read(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Refused


@dataclass(frozen=True)
class OneOf(Param):
    """One of ``choices`` (a string; case and surrounding spaces do not matter)."""

    choices: tuple[str, ...] = ()

    def expected(self) -> Msg:
        return Msg("notebook.param.expect.one_of", choices=", ".join(f'"{c}"' for c in self.choices))

    def read(self, value: Any) -> str:
        if isinstance(value, str):
            key = value.strip().lower()
            for choice in self.choices:
                if choice.lower() == key:
                    return choice
        raise _Refused


@dataclass(frozen=True)
class Duration(Param):
    """An Istio duration longer than zero, one number and one unit: ``"15s"``, ``"500ms"``, ``"3m"``."""

    def expected(self) -> Msg:
        return Msg("notebook.param.expect.duration")

    def read(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _Refused
        m = _DURATION.fullmatch(value.strip())
        if not m or float(m.group(1)) * _UNIT_S[m.group(2)] <= 0:
            raise _Refused
        return value.strip()


@dataclass(frozen=True)
class Text(Param):
    """Any text (an exercise's answer: YAML the lab validates itself, at its lines)."""

    def expected(self) -> Msg:
        return Msg("notebook.param.expect.text")

    def read(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _Refused
        return value


@dataclass(frozen=True)
class Optional(Param):
    """``inner`` or nothing: None, ``""`` or ``"None"`` (a prediction left empty, an exercise not given)."""

    inner: Param = Text()
    default: Any = field(default=None, kw_only=True)

    def expected(self) -> Msg:
        return Msg("notebook.param.expect.optional", inner=self.inner.expected())

    def read(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip() in ("", "None", "none")):
            return None
        return self.inner.read(value)


#: The parameters every lab has: where it runs and in which language it speaks.
BACKEND: Final = OneOf(choices=("embedded", "kind", "auto"))
LANG: Final = OneOf(choices=tuple(LANGS))


def check(values: Mapping[str, Any], params: Mapping[str, Param]) -> dict[str, Any]:
    """``values`` read through ``params`` (those not given take their default, if any); raises one
    ``ParameterError`` listing every parameter it refused."""
    out: dict[str, Any] = {}
    refused: list[Msg] = []
    for name, param in params.items():
        if name not in values:
            if param.default is not MISSING:
                out[name] = param.default
            continue
        value = values[name]
        try:
            out[name] = param.read(value)
        except _Refused:
            refused.append(Msg("notebook.param.refused", name=name, given=_shown(value),
                               expected=param.expected()))
        except (TypeError, ValueError, OverflowError, RecursionError):
            # a value whose own methods fail (a str subclass, a huge number): refused the same way
            refused.append(Msg("notebook.param.refused", name=name, given=_shown(value),
                               expected=param.expected()))
    if refused:
        raise ParameterError(Joined([Msg("notebook.param.header", n=len(refused)), *refused]))
    return out


def read(namespace: MutableMapping[str, Any], params: Mapping[str, Param]) -> dict[str, Any]:
    """Read the parameters cell's values declared in ``params`` from ``namespace`` (the notebook's
    ``globals()``), write the typed values back, and return them (``lablib.labs.read_parameters`` passes a
    lab's declared parameters).

    The notebook's language is set first (``set_language``), so a refused value shows as one line in that
    language, not as a traceback; a ``lang`` that is not a language is itself refused (in English).
    """
    from lablib.notebook.language import set_language

    set_language(DEFAULT_LANG)  # so that even a refused ``lang`` shows as one line, not a traceback
    if "lang" in params and "lang" in namespace:
        lang = check({"lang": namespace["lang"]}, {"lang": params["lang"]})["lang"]
        set_language(lang)
    values = check(namespace, params)
    namespace.update(values)
    return values
