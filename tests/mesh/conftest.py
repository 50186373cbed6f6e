"""Fixtures for the embedded mesh: a private ``$LABLIB_HOME`` per test, manifests written on the fly, and a
check that a test leaves no process of its lab behind.

A test that kills, replaces or reconfigures the lab's processes starts its own lab (``make_mesh``). A test
that only reads a running lab, or applies a rule on top and expects it to be taken away again, shares one lab
per module (``mesh``): starting a lab costs about a second, most of a short test.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))  # mesh_helpers (tests run with --import-mode=importlib)

from mesh_helpers import service_go_yaml

from lablib.backends.mesh import MeshBackend
from tests.support import processes_under


def _no_process_under(home: Path) -> None:
    leftovers = processes_under(home)
    for p in leftovers:  # never leave a process behind, even when the test failed
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    assert not leftovers, f"processes left behind: {[p.pid for p in leftovers]}"


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "lablib-home"
    monkeypatch.setenv("LABLIB_HOME", str(home))
    yield home
    _no_process_under(home)


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


@pytest.fixture(scope="module")
def shared_mesh(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshBackend]:
    """One embedded lab for the module (default options, ``service_time_ms=10``) with service-go applied:
    the module's ``SHARED_SERVICE`` manifest text, v1 and v2 when it has none. Nothing may remain after it."""
    home = tmp_path_factory.mktemp("lablib-home")
    manifest = home.parent / f"{home.name}-service-go.yaml"
    manifest.write_text(getattr(request.module, "SHARED_SERVICE", service_go_yaml()))
    mesh = MeshBackend(home=home, service_time_ms=10)
    try:
        mesh.apply(manifest)
        yield mesh
    finally:
        mesh.cleanup()
        _no_process_under(home)


@pytest.fixture
def mesh(shared_mesh: MeshBackend, tmp_path: Path) -> Iterator[MeshBackend]:
    """The module's shared lab for one test, counters zeroed. Afterwards whatever the test applied on top is
    deleted, and the test fails if it changed the lab's processes (such a test needs ``make_mesh``)."""
    applied = shared_mesh.applied()
    processes = shared_mesh.processes()
    shared_mesh.reset_counters()
    yield shared_mesh
    added = [o["body"] for o in shared_mesh._state().objects
             if f"{o['body']['kind']}/{o['body']['metadata']['name']}" not in applied]
    if added:
        path = tmp_path / "added-by-the-test.yaml"
        path.write_text(yaml.safe_dump_all(added, sort_keys=False))
        shared_mesh.delete(path)
    assert shared_mesh.applied() == applied, "a test on the shared lab replaced what the module applied"
    assert shared_mesh.processes() == processes, "a test that changes the lab's processes needs make_mesh"
