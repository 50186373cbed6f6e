"""fortio's flags, parsed like Go's flag package; bad input is a clear FortioUsageError."""

from __future__ import annotations

import pytest

from lablib._exceptions import FortioUsageError
from lablib.fortio.flags import parse_args


@pytest.mark.parametrize(
    "argv",
    [
        ["load", "-c", "3", "-qps", "0", "-n", "30", "http://x/"],
        ["-c", "3", "-qps", "0", "-n", "30", "http://x/"],
        ["load", "--c", "3", "--qps", "0", "--n", "30", "http://x/"],
        ["load", "-c=3", "-qps=0", "--n=30", "http://x/"],
        ["fortio", "load", "-c", "3", "-qps=0", "-n", "30", "http://x/"],
    ],
)
def test_go_flag_forms(argv):
    a = parse_args(argv)
    assert (a.options.num_threads, a.options.qps, a.options.exactly, a.options.url) == (
        3,
        0.0,
        30,
        "http://x/",
    )


def test_defaults_are_fortios():
    o = parse_args(["http://x/"]).options
    assert (o.num_threads, o.qps, o.exactly, o.duration_s) == (4, 8.0, 0, 5.0)
    assert o.percentiles == (50, 75, 90, 99, 99.9) and o.resolution_s == 0.001 and o.timeout_s == 3.0
    assert o.keepalive and o.log_errors and o.loglevel == "Info"


def test_other_flags():
    a = parse_args(
        [
            "-t",
            "1m30s",
            "-p",
            "50,99",
            "-r",
            "0.0001",
            "-H",
            "x-user: jason",
            "-H",
            "Host: h",
            "-timeout",
            "250ms",
            "-keepalive=false",
            "-loglevel",
            "warning",
            "-labels",
            "run 1",
            "-json",
            "-",
            "-allow-initial-errors",
            "-curl",
            "http://x/",
        ]
    )
    o = a.options
    assert o.duration_s == 90 and o.percentiles == (50, 99) and o.resolution_s == 0.0001
    assert o.headers == (("x-user", "jason"), ("Host", "h")) and o.timeout_s == 0.25
    assert not o.keepalive and o.loglevel == "Warning" and o.labels == "run 1" and o.allow_initial_errors
    assert a.json_path == "-" and a.curl


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-foo", "http://x/"], "flag provided but not defined: -foo"),
        (["-c", "three", "http://x/"], 'invalid value "three" for flag -c'),
        (["-t", "10", "http://x/"], 'invalid value "10" for flag -t: parse error (a Go duration'),
        (["-c", "3"], "needs a URL"),
        (["-c", "3", "http://x/", "-n", "3"], "flags after the URL are not parsed"),
        (["-keepalive=maybe", "http://x/"], 'invalid value "maybe" for flag -keepalive'),
        (["-p", "100", "http://x/"], "must be > 0 and < 100"),
        (["-H", "novalue", "http://x/"], "key:value"),
        (["-loglevel", "loud", "http://x/"], "unknown level"),
        (["-n"], "flag needs an argument: -n"),
    ],
)
def test_bad_flags(argv, message):
    with pytest.raises(FortioUsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_args(argv)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5s", 5.0), ("250ms", 0.25), ("0", 0.0), ("1h2m3.5s", 3723.5), ("1m30s", 90.0), ("1.5s", 1.5)],
)
def test_duration_flags_are_go_durations(value, seconds):
    # Go's flag.Duration is time.ParseDuration: lablib/_duration.py, the lab's one parser
    assert parse_args(["-t", value, "http://x/"]).options.duration_s == seconds


@pytest.mark.parametrize("value", ["5 s", "5", "3 seconds", "2562048h", ""])
def test_a_bad_duration_flag_is_a_usage_error_with_the_fix(value):
    with pytest.raises(FortioUsageError, match=f'invalid value "{value}" for flag -timeout: parse error'):
        parse_args(["-timeout", value, "http://x/"])
