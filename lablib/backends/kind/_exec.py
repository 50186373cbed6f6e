"""Executing plans: CLI tools as subprocesses, and commands in pod containers through the API's exec
stream; what fortio's exec printed, as a ``FortioResult``."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lablib._exceptions import FortioError
from lablib.i18n import Msg

if TYPE_CHECKING:
    from lablib.backends.kind._plan import ExecRequest
    from lablib.fortio.result import FortioResult

__all__ = ["ExecResult", "curl_result", "fortio_output", "run_cli", "run_exec"]


@dataclass(frozen=True)
class ExecResult:
    """What a command printed, and its exit status (from the exec stream's error channel)."""

    stdout: str
    stderr: str
    returncode: int


def run_cli(argv: Sequence[str], *, timeout: float, on_line: Callable[[str], None] | None = None,
            check: bool = True) -> ExecResult:
    """Run a CLI (kind, istioctl, docker), streaming its merged output lines to ``on_line`` for progress.

    Raises FileNotFoundError when the tool is missing, CalledProcessError (with the output) on failure and
    TimeoutExpired past ``timeout``; ``map_errors`` turns those into lablib errors. The child runs in its own
    process group and is killed with it on timeout.
    """
    import os
    import signal
    import threading

    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                            start_new_session=True)
    lines: list[str] = []

    def pump() -> None:  # a thread, so a tool that goes quiet still times out
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None and line.strip():
                on_line(line.rstrip())

    reader = threading.Thread(target=pump, name=f"lablib-{argv[0]}", daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
    out = "".join(lines)
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, list(argv), output=out, stderr=out)
    return ExecResult(stdout=out, stderr="", returncode=proc.returncode)


def run_exec(core: Any, req: ExecRequest, *, timeout: float,
             on_stderr: Callable[[str], None] | None = None) -> ExecResult:
    """Run ``req`` in its container like ``kubectl exec`` (no TTY, so stdout and stderr stay apart).

    ``core`` is a ``kubernetes.client.CoreV1Api``. Stdout is collected whole (fortio's JSON); stderr chunks
    go to
    ``on_stderr`` as they arrive (fortio's progress text).
    """
    from kubernetes.stream import stream

    resp = stream(core.connect_get_namespaced_pod_exec, req.pod, req.namespace, container=req.container,
                  command=list(req.command), stderr=True, stdin=False, stdout=True, tty=False,
                  _preload_content=False)
    out: list[str] = []
    err: list[str] = []
    deadline = time.monotonic() + timeout

    def drain() -> None:
        if resp.peek_stdout(timeout=0):
            out.append(resp.read_stdout(timeout=0))
        if resp.peek_stderr(timeout=0):
            chunk = resp.read_stderr(timeout=0)
            err.append(chunk)
            if on_stderr is not None:
                on_stderr(chunk)

    try:
        while resp.is_open():
            resp.update(timeout=1)
            drain()
            if time.monotonic() > deadline:
                raise TimeoutError(Msg("kind.exec.still_running", command=req.kubectl(), timeout=timeout))
        drain()
        code = resp.returncode
    finally:
        resp.close()
    return ExecResult(stdout="".join(out), stderr="".join(err), returncode=int(code or 0))


def fortio_output(command: list[str], result: ExecResult) -> FortioResult:
    """What ``fortio(…)`` returns for one exec: the parsed ``-json -`` result (stdout), a one-call result
    for a ``-curl`` run (the response text in ``raw["curl"]``), or a FortioError quoting the end of fortio's
    stderr when it failed."""
    if result.returncode != 0 or not result.stdout.strip():
        tail = "\n".join(result.stderr.strip().splitlines()[-10:]) or Msg("kind.backend.no_output")
        raise FortioError(Msg("kind.backend.fortio_failed", command=" ".join(command), code=result.returncode,
                              tail=tail))
    if "-json" not in command:
        return curl_result(command[-1], result.stdout)
    from lablib.fortio import read_result

    return read_result(result.stdout)


def curl_result(url: str, text: str) -> FortioResult:
    """``fortio load -curl``'s output (status line, headers, body) as a one-call FortioResult."""
    import re

    from lablib.fortio.result import FortioResult

    status = re.search(r"^HTTP/\S+ (\d{3})", text, re.M)
    code = int(status.group(1)) if status else -1
    return FortioResult(codes={code: 1}, count=1, num_threads=1, qps=0.0, requested_qps=0.0, duration_s=0.0,
                        avg_s=0.0, min_s=0.0, max_s=0.0, stddev_s=0.0, percentiles={}, sockets=1,
                        sockets_per_thread=[1], histogram=None, errors_histogram=None, url=url, labels="",
                        version="", source="fortio-curl", raw={"curl": text}, exactly=1)
