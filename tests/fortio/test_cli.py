"""``python -m lablib.fortio load …`` as a transcript: exit codes, streams, never a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.support import free_port


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lablib.fortio", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["load", "-foo", "http://127.0.0.1:1/"], 2, "flag provided but not defined: -foo"),
        (
            ["load", "-c", "0", "-n", "3", "http://127.0.0.1:1/"],
            2,
            "-c 0: the number of threads must be at least 1",
        ),
        (["load", "-n", "3", "http://[::1/"], 2, "invalid URL 'http://[::1/'"),
        (["load", "-n", "3", "ftp://example/"], 2, "scheme 'ftp' is not http"),
        (["load", "-c", "3"], 2, "needs a URL"),
        (["load", "-t", "5", "http://x/"], 2, 'invalid value "5" for flag -t'),
        (
            ["load", "-n", "1", "http://no-such-host.invalid/"],
            1,
            "unable to resolve host 'no-such-host.invalid'",
        ),
        (["frobnicate"], 2, "unknown command"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(args, code, message):
    p = _run(*args)
    assert p.returncode == code, p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_unreachable_port_exits_1_with_a_message():
    port = free_port()
    p = _run("load", "-c", "2", "-qps", "0", "-n", "4", "-loglevel", "Error", f"http://127.0.0.1:{port}/")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"failed with a socket error connecting to 127.0.0.1:{port}" in p.stderr
    assert "Code  -1 : 4 (100.0 %)" in p.stderr  # the summary is still printed, as fortio does


@pytest.mark.envoy
def test_json_dash_writes_only_json_on_stdout(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/env"
    p = _run("load", "-c", "2", "-qps", "0", "-n", "6", "-json", "-", "-loglevel", "Warning", url)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["RetCodes"] == {"200": 6} and data["URL"] == url
    assert p.stderr.splitlines()[-1] == f"Successfully wrote {len(p.stdout)} bytes of Json data to stdout"


@pytest.mark.envoy
def test_curl_prints_status_line_and_headers_like_the_seed(envoy):
    p = _run("load", "-curl", f"http://127.0.0.1:{envoy.ports['ok']}/env")
    assert p.returncode == 0, p.stderr
    head = p.stderr.splitlines()
    assert head[0] == "HTTP/1.1 200 OK" and "server: envoy" in head and head[-1] == ""
    assert p.stdout.startswith('{"message"')


def test_help_lists_fortios_flags():
    p = _run("load", "-h")
    assert p.returncode == 0
    for flag in ("-c int", "-qps float", "-n int", "-t duration", "-json path", "-allow-initial-errors"):
        assert flag in p.stderr


@pytest.mark.envoy
def test_ctrl_c_ends_an_endless_run_with_the_summary_like_fortio(envoy):
    url = f"http://127.0.0.1:{envoy.ports['ok']}/"
    p = subprocess.Popen(
        [sys.executable, "-m", "lablib.fortio", "load", "-c", "2", "-qps", "0", "-t", "0", "-json", "-", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        assert p.stderr is not None
        while "until interrupted" not in p.stderr.readline():  # the run has started
            assert time.monotonic() < deadline
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and "Traceback" not in err
    data = json.loads(out)
    assert data["RequestedDuration"] == "" and data["DurationHistogram"]["Count"] > 0
    assert "All done" in err and "(plus 2 warmup)" in err
