"""``python -m lablib``'s boundary with the terminal: a closed pipe ends any command quietly, no exception
reaches the student as a traceback, and ``apply`` prints validate's warnings like kubectl (``Warning: …``)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import lablib.__main__ as cli

REPO = Path(__file__).resolve().parents[2]


def lablib(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lablib", *args],
        cwd=REPO,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )


def into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader is already gone: what `| head -1` does once head has its line."""
    read, write = os.pipe()
    os.close(read)
    try:
        return lablib(*args, stdout=write)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [("--help",), ("validate", "manifests"), ("validate", "--help")])
def test_a_closed_pipe_ends_the_command_quietly(args: tuple[str, ...]) -> None:
    run = into_a_closed_pipe(*args)
    assert run.returncode == 141  # 128 + SIGPIPE, as kubectl killed by the pipe
    assert run.stderr == ""


def test_an_unexpected_exception_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A command whose code raises something that is not a LabError (json.loads on a list: a real TypeError).
    monkeypatch.setitem(cli.COMMANDS, "boom", ("json:loads", "raises TypeError"))
    monkeypatch.delenv("LABLIB_DEBUG", raising=False)
    assert cli.main(["boom", "x"]) == 70
    err = capsys.readouterr().err
    assert err.startswith("lablib: internal error in `boom`: TypeError: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_lab_error_is_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stats", "--lab", f"none-{uuid.uuid4().hex[:8]}"]) == 3  # no such lab running
    err = capsys.readouterr().err
    assert err.startswith("lablib: ") and "Traceback" not in err


# --- a real lab (embedded: real Envoy sidecars and service-go processes) ------------------------------------
@pytest.fixture
def lab_name() -> Iterator[str]:
    name = f"warn-{uuid.uuid4().hex[:8]}"
    yield name
    lablib("cleanup", "--lab", name)


@pytest.mark.envoy
@pytest.mark.timeout(300)
def test_apply_prints_validates_warnings_like_kubectl_and_stats_survives_head(lab_name: str) -> None:
    run = lablib("apply", "--lab", lab_name, "-f", "manifests/service/go/service-go.yaml")
    assert run.returncode == 0, run.stderr
    run = lablib("apply", "--lab", lab_name, "-f", "manifests/istio/resilience/destination-rule-go-cb.yaml")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["DestinationRule/service-go configured"]
    warnings = [line for line in run.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1, run.stderr
    assert warnings[0].startswith(
        "Warning: manifests/istio/resilience/destination-rule-go-cb.yaml:23: DestinationRule/service-go: "
        "spec.trafficPolicy.outlierDetection.consecutiveErrors: consecutiveErrors is deprecated"
    ), warnings[0]
    # `python -m lablib stats | head -1`: stats prints hundreds of lines into a pipe nobody reads
    run = into_a_closed_pipe("stats", "--lab", lab_name)
    assert run.returncode == 141 and run.stderr == "", run.stderr
