"""The load generator's errors and progress in the notebook's language: ``err.in_lang("zh")`` is Chinese
and keeps fortio's flag names, values, URLs and ports; ``str(err)`` (what the CLI prints) is the English of
before."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lablib._exceptions import FortioError, FortioUsageError
from lablib.fortio import curl, load, read_result
from lablib.fortio.flags import parse_args
from lablib.fortio.multiproc import _from_json, _read_msg, _to_json
from lablib.fortio.runner import resolve
from lablib.fortio.testing import SlowBackend
from lablib.i18n import Msg, render
from tests.support import CJK, free_port

FIXTURES = Path(__file__).parent / "fixtures"


def _zh(err: Exception, *kept: str) -> str:
    """``err`` in Chinese: it has Chinese text and every one of ``kept`` (names, values) as it is."""
    text = err.in_lang("zh")  # type: ignore[attr-defined]
    assert CJK.search(text), text
    assert text != str(err)
    for k in kept:
        assert k in text, (k, text)
    return text


@pytest.mark.parametrize(
    ("args", "english", "kept"),
    [
        (["load", "-foo", "http://x/"],
         "flag provided but not defined: -foo (run `python -m lablib.fortio load -h` for the list of flags)",
         ["-foo", "`python -m lablib.fortio load -h`"]),
        (["load", "-c", "abc", "http://x/"],
         'invalid value "abc" for flag -c: parse error (an integer is expected, e.g. -c 3)',
         ['"abc"', "-c 3"]),
        (["load", "-qps", "fast", "http://x/"],
         'invalid value "fast" for flag -qps: parse error (a number is expected, e.g. -qps 0)',
         ['"fast"', "-qps 0"]),
        (["load", "-t", "5", "http://x/"],
         'invalid value "5" for flag -t: parse error (a Go duration is expected, e.g. 5s, 1m30s, 250ms)',
         ["-t", "5s", "1m30s", "250ms"]),
        (["load", "-keepalive=maybe", "http://x/"],
         'invalid value "maybe" for flag -keepalive: parse error (use -keepalive or -keepalive=false)',
         ['"maybe"', "-keepalive=false"]),
        (["load", "-loglevel", "Loud", "http://x/"],
         'invalid value "Loud" for flag -loglevel: unknown level '
         "(one of Debug Verbose Info Warning Error Critical Fatal)", ['"Loud"', "Debug Verbose Info"]),
        (["load", "-H", "nocolon", "http://x/"],
         "invalid value \"nocolon\" for flag -H: a header is `key:value`, e.g. -H 'x-user: jason'",
         ["`key:value`", "-H 'x-user: jason'"]),
        (["load", "-p", "50,101", "http://x/"],
         'invalid value "50,101" for flag -p: percentile 101 must be > 0 and < 100 (e.g. -p 50,90,99)',
         ['"50,101"', "101", "-p 50,90,99"]),
        (["load", "-p", "50,x", "http://x/"],
         "invalid value \"50,x\" for flag -p: invalid percentile 'x' (e.g. -p 50,90,99)", ["'x'"]),
        (["load", "-p", ",", "http://x/"],
         "invalid value \",\" for flag -p: list can't be empty (e.g. -p 50,90,99)", ['","']),
        (["load", "-c"], "flag needs an argument: -c", ["-c"]),
        (["load", "-c", "3"],
         "Error: fortio load/curl needs a URL or destination, got no URL "
         "(example: python -m lablib.fortio load -c 3 -qps 0 -n 30 http://service-go/env)",
         ["fortio load/curl", "URL", "python -m lablib.fortio load -c 3 -qps 0 -n 30 http://service-go/env"]),
        (["load", "http://x/", "-c", "3"],
         "Error: fortio load/curl needs a URL or destination, got 3 arguments ['http://x/', '-c', '3'] "
         "(flags after the URL are not parsed) "
         "(example: python -m lablib.fortio load -c 3 -qps 0 -n 30 http://service-go/env)",
         ["3 个参数", "['http://x/', '-c', '3']"]),
    ],
)
def test_bad_flags_are_chinese_and_keep_the_flags(args, english, kept):
    with pytest.raises(FortioUsageError) as info:
        parse_args(args)
    assert str(info.value) == english  # what the CLI prints, byte for byte as before
    _zh(info.value, *kept)


@pytest.mark.parametrize(
    ("args", "english", "kept"),
    [
        ("load -c 0 -n 3 http://127.0.0.1:1/",
         "-c 0: the number of threads must be at least 1 (example: -c 3)", ["-c 0", "-c 3"]),
        ("load -n -1 http://127.0.0.1:1/", "-n -1: must be >= 0 (0 means use -t)", ["-n -1", "-t"]),
        ("load -r 0 -n 3 http://127.0.0.1:1/",
         "-r 0.0: the resolution must be > 0 (default 0.001)", ["-r 0.0", "0.001"]),
        ("load -timeout 0s -n 3 http://127.0.0.1:1/",
         "-timeout: must be > 0 (default 3s), got 0.0s", ["-timeout", "3s", "0.0s"]),
        ("load -n 3 ftp://example/",
         "invalid URL 'ftp://example/': scheme 'ftp' is not http (example: http://service-go/env)",
         ["'ftp://example/'", "'ftp'", "http://service-go/env"]),
        ("load -n 3 https://service-go/env",
         "invalid URL 'https://service-go/env': https is not supported by the lab's generator "
         "(the sidecar does mTLS; use http://)", ["'https://service-go/env'", "https", "sidecar", "http://"]),
        ("load -n 3 http:///env",
         "invalid URL 'http:///env': no host (example: http://service-go/env)", ["'http:///env'"]),
        ("load -n 3 http://[::1/",
         "invalid URL 'http://[::1/': Invalid IPv6 URL (example: http://service-go:80/env)",
         ["'http://[::1/'", "Invalid IPv6 URL", "http://service-go:80/env"]),
    ],
)
def test_bad_values_and_urls_through_load(args, english, kept):
    with pytest.raises(FortioUsageError) as info:
        load(args, stderr=io.StringIO())
    assert str(info.value) == english
    _zh(info.value, *kept)


def test_a_url_with_spaces():
    with pytest.raises(FortioUsageError) as info:
        load(["load", "-n", "3", "http://a b/"], stderr=io.StringIO())
    assert str(info.value) == (
        "invalid URL 'http://a b/': empty or contains spaces (example: http://service-go/env)"
    )
    assert "无效的 URL 'http://a b/'" in _zh(info.value, "http://service-go/env")


def test_unreadable_and_garbled_result_files(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(FortioError) as info:
        read_result(missing)
    assert str(info.value) == (
        f"{missing}: no such file (expected a fortio -json file or a saved text summary)"
    )
    _zh(info.value, str(missing), "-json")

    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"DurationHistogram": {"Count": 3,\n  oops}', encoding="utf-8")
    with pytest.raises(FortioError) as info:
        read_result(garbled)
    assert str(info.value) == (
        f"{garbled}:2: not valid JSON: Expecting property name enclosed in double quotes "
        "(expected fortio -json output)"
    )
    _zh(info.value, f"{garbled}:2", "JSON", "-json")

    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(FortioError) as info:
        read_result(binary)
    assert str(info.value).startswith(f"{binary}: cannot read: 'utf-8' codec can't decode")
    _zh(info.value, str(binary), "'utf-8' codec")

    with pytest.raises(FortioError) as info:
        read_result('{"x": 1}')
    assert str(info.value) == "<text>: no DurationHistogram: this is not a fortio load result"
    _zh(info.value, "<text>", "DurationHistogram", "fortio")

    not_fortio = tmp_path / "list.json"  # a JSON file that does not start with "{" is read as fortio's text
    not_fortio.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(FortioError) as info:
        read_result(not_fortio)
    assert str(info.value) == (
        f"{not_fortio}: not a fortio load summary (no 'Aggregated Function Time' line or no 'Code' lines); "
        "pass the text fortio printed on stderr, or its -json output"
    )
    _zh(info.value, str(not_fortio), "'Aggregated Function Time'", "'Code'", "stderr", "-json")


def test_connection_refused_on_a_closed_loopback_port():
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    seen: list[str] = []
    with pytest.raises(FortioError) as info:
        load(f"load -c 1 -qps 0 -n 3 -loglevel Error {url}", stderr=io.StringIO(),
             progress=lambda done, total, msg: seen.append(msg))
    assert str(info.value) == (
        f"every call (3) failed with a socket error connecting to 127.0.0.1:{port} for {url}: "
        "nothing listening there, or it timed out (check the host and port)"
    )
    _zh(info.value, "3", f"127.0.0.1:{port}", url)
    # the progress messages of the run: English as before, Chinese in a zh progress bar
    assert seen and seen[-1] == "3/3 calls" and isinstance(seen[-1], Msg)
    assert render(seen[-1], "zh") == "3/3 次调用"

    with pytest.raises(FortioError) as info:
        load(f"load -c 1 -qps 0 -t 1s -loglevel Error {url}", stderr=io.StringIO())
    assert str(info.value) == (
        f"Aborting because of error -1 for {url} (0 bytes) during warmup "
        "(use -n for an exact number of calls without warmup, or -allow-initial-errors)"
    )
    _zh(info.value, "-1", url, "0 字节", "-n", "-allow-initial-errors")

    with pytest.raises(FortioError) as info:
        curl(url, timeout_s=1.0)
    assert str(info.value).startswith(f"curl {url}: cannot fetch from 127.0.0.1:{port}: [Errno 111]")
    _zh(info.value, f"curl {url}", f"127.0.0.1:{port}", "[Errno 111]")


def test_unknown_host():
    with pytest.raises(FortioError) as info:
        resolve("no-such-host.invalid", 80)
    assert str(info.value).startswith("unable to resolve host 'no-such-host.invalid': ")
    assert str(info.value).endswith(" (check the URL or use connect_to)")
    _zh(info.value, "'no-such-host.invalid'", "URL", "connect_to")


def test_a_run_that_cannot_write_its_json_and_its_time_progress(tmp_path):
    target = tmp_path / "no-such-dir" / "run.json"
    seen: list[str] = []
    with SlowBackend(delay_s=0.0) as backend, pytest.raises(FortioError) as info:
        load(f"load -c 2 -qps 0 -t 300ms -loglevel Error -json {target} http://127.0.0.1:{backend.port}/",
             stderr=io.StringIO(), progress=lambda done, total, msg: seen.append(msg))
    assert str(info.value) == f"-json {target}: unable to write: No such file or directory"
    _zh(info.value, f"-json {target}", "No such file or directory")
    assert re.fullmatch(r"\d+ calls, 0\.\ds", seen[-1]), seen[-1]
    assert re.fullmatch(r"\d+ 次调用，0\.\ds", render(seen[-1], "zh"))


def test_a_worker_process_that_dies_is_reported_in_chinese():
    # a real worker process given a spec it cannot use: it dies with a traceback on stderr
    p = subprocess.Popen([sys.executable, "-m", "lablib.fortio._worker"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdin is not None
        p.stdin.write("{}\n")
        p.stdin.close()
        msg = _read_msg(p)
    finally:
        p.wait(timeout=60)
        for f in (p.stdout, p.stderr):
            if f is not None:
                f.close()
    err = FortioError(Msg("fortio.multiproc.worker_failed", err=msg["error"]))
    assert str(err).startswith("load worker process failed: worker exited: Traceback")
    assert "KeyError: 'options'" in str(err)
    _zh(err, "KeyError: 'options'")


def test_a_childs_error_crosses_the_pipe_as_a_message():
    # what a worker sends for a LabError: its Msg's key and values, Msgs inside included
    inner = Msg("fortio.url.invalid", url="'ftp://x/'", why=Msg("fortio.url.scheme", scheme="'ftp'"))
    line = json.dumps({"error": f"FortioUsageError: {inner}", "error_type": "FortioUsageError",
                       "error_text": _to_json(inner)})
    back = _from_json(json.loads(line)["error_text"])
    assert back == inner and render(back, "zh") == render(inner, "zh")
    child = Msg("fortio.multiproc.child_error", type="FortioUsageError", err=back)
    assert child == f"FortioUsageError: {inner}"  # the English the parent raised before
    assert "协议 'ftp' 不是 http" in render(child, "zh")


def test_summary_in_chinese_and_unchanged_in_english():
    r = read_result(FIXTURES / "fortio-1.3-text-istio-task-c3-n30.txt")
    en = r.summary()
    assert en.startswith("30 calls, 3 threads, ") and "200 36.7%, 503 63.3%" in en
    assert en.endswith("; 20 sockets") and "; p50 " in en
    zh = r.summary(lang="zh")
    assert zh.startswith("30 次调用，3 个线程，") and "200 36.7%、503 63.3%" in zh
    assert "；p50 延迟 " in zh and zh.endswith("；20 个 socket")


def test_the_cli_prints_the_english_of_before():
    p = subprocess.run([sys.executable, "-m", "lablib.fortio", "load", "-c", "x", "http://x/"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr == 'invalid value "x" for flag -c: parse error (an integer is expected, e.g. -c 3)\n'
