"""The lab's one duration parser (lablib/_duration.py) reads what Go's time.ParseDuration reads, and refuses
what it refuses, with the reason. Expected values are Go's (go1.22 ``time.ParseDuration``)."""

from __future__ import annotations

import pytest

from lablib._duration import (
    MAX_NANOS,
    DurationError,
    parse_nanos,
    parse_seconds,
    proto_json,
    to_proto_json,
)

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1m30s", 90 * S),
        ("1.5s", 1_500_000_000),
        ("500ms", 500_000_000),
        ("0s", 0),
        ("0", 0),
        ("-0", 0),
        ("-1s", -S),
        ("+3m", 180 * S),
        ("1h2m3.5s", 3723_500_000_000),
        ("1.s", S),
        (".5s", 500_000_000),
        ("1.0000000001s", S),  # below a nanosecond: truncated
        ("12.5µs", 12_500),  # U+00B5
        ("12.5μs", 12_500),  # U+03BC, as Go's Duration.String writes it
        ("3us", 3_000),
        ("7ns", 7),
        ("1m0.5s", 60_500_000_000),  # fortio's "Ended after" text
        ("2562047h47m16.854775807s", MAX_NANOS),  # the longest Go duration
        ("9223372036854775807ns", MAX_NANOS),
        ("-9223372036854775808ns", -MAX_NANOS - 1),
        ("0.33333333333333333333333333h", 1_199_999_999_999),  # digits past the 18th are ignored
    ],
)
def test_go_durations_read_as_go_reads_them(text: str, nanos: int) -> None:
    assert parse_nanos(text) == nanos


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("-", "syntax"),
        ("s", "syntax"),
        (".s", "syntax"),
        ("1", "missing_unit"),
        ("1.5", "missing_unit"),
        ("1s2", "missing_unit"),
        ("3 seconds", "unknown_unit"),
        ("3sec", "unknown_unit"),
        ("1d", "unknown_unit"),
        ("1e3s", "unknown_unit"),
        (" 3s", "syntax"),  # Go refuses surrounding spaces
        ("1h-1m", "unknown_unit"),  # Go reads the unit "h-"
        ("2562047h47m16.854775808s", "overflow"),
        ("9223372036854775808ns", "overflow"),
        ("999999999999h", "overflow"),
        ("1" * 5000 + "s", "overflow"),  # never builds a 5000-digit int
        ("abc", "syntax"),
    ],
)
def test_what_go_refuses_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_nanos(text)
    assert info.value.reason == reason
    assert info.value.text == text
    assert isinstance(info.value, ValueError)


def test_an_unknown_unit_is_named() -> None:
    with pytest.raises(DurationError) as info:
        parse_nanos("5 s")
    assert info.value.unit == " s"


def test_only_text_is_a_duration() -> None:
    with pytest.raises(TypeError):
        parse_nanos(3)  # type: ignore[arg-type]


def test_seconds() -> None:
    assert parse_seconds("1m30s") == 90.0
    assert parse_seconds("250ms") == 0.25
    assert parse_seconds("-1.5s") == -1.5


@pytest.mark.parametrize(
    ("text", "json"),
    [
        ("3m", "180s"),
        ("1.5s", "1.500s"),
        ("500ms", "0.500s"),
        ("1500us", "0.001500s"),
        ("7ns", "0.000000007s"),
        ("0s", "0s"),
        ("-1.5s", "-1.500s"),
    ],
)
def test_proto3_json_writes_0_3_6_or_9_fraction_digits(text: str, json: str) -> None:
    assert to_proto_json(text) == json
    assert proto_json(parse_nanos(text)) == json
