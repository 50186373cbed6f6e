"""Fixtures for the embedded mesh: a private ``$LABLIB_HOME`` per test, manifests written on the fly, and a
check that a test leaves no process of its lab behind."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # mesh_helpers (tests run with --import-mode=importlib)

from lablib.backends.mesh import MeshBackend
from tests.support import processes_under


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "lablib-home"
    monkeypatch.setenv("LABLIB_HOME", str(home))
    yield home
    leftovers = processes_under(home)
    for p in leftovers:  # never leave a process behind, even when the test failed
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    assert not leftovers, f"processes left behind: {[p.pid for p in leftovers]}"


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a manifest file under the test's tmp dir and return its path."""
    def _write(name: str, text: str) -> Path:
        path = tmp_path / "manifests" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path
    return _write


@pytest.fixture
def make_mesh(lab_home: Path) -> Iterator[Callable[..., MeshBackend]]:
    """Start embedded labs in the test's home; every one is cleaned up at the end."""
    made: list[MeshBackend] = []

    def _make(**kwargs: object) -> MeshBackend:
        kwargs.setdefault("service_time_ms", 10)
        mesh = MeshBackend(home=lab_home, **kwargs)  # type: ignore[arg-type]
        made.append(mesh)
        return mesh

    yield _make
    for m in made:
        m.cleanup()
