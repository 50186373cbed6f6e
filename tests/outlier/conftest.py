"""One embedded lab (real Envoy sidecars + service-go) shared by the outlier tests of a module.

Each test calls ``experiment()``, which heals the pods and re-applies its own DestinationRule, so tests do not
see each other's ejections. The lab lives in a private ``$LABLIB_HOME``; at the end no process may remain
whose command line or working directory is under it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support import processes_under

REPO = Path(__file__).resolve().parents[2]
SERVICE_GO = REPO / "manifests" / "service" / "go" / "service-go.yaml"
ROUTE = REPO / "manifests" / "istio" / "route" / "virtual-service-go.yaml"


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("lablib-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("LABLIB_HOME", str(home))
    yield home
    mp.undo()
    left = processes_under(home)
    for p in left:  # never leave a process behind, even when a test failed
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    assert not left, f"processes left behind: {[(p.pid, p.info['cmdline']) for p in left]}"


@pytest.fixture(scope="module")
def lab(lab_home: Path) -> Iterator[object]:
    """``Lab(backend="embedded")`` with service-go v1/v2 and the book's VirtualService applied."""
    from lablib.lab import Lab

    the_lab = Lab("embedded", name="outlier-tests", service_time_ms=10)
    try:
        the_lab.apply(SERVICE_GO)
        the_lab.apply(ROUTE)
        yield the_lab
    finally:
        the_lab.cleanup()


@pytest.fixture
def rule_path(tmp_path: Path) -> Path:
    return tmp_path / "destination-rule-outlier.yaml"
