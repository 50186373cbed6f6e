"""One embedded lab per module for lab 05's real-Envoy tests: service-go v1 alone (the failing and slow
instance) and the fortio pod, as the notebook starts it, in a private ``$LABLIB_HOME``; at the end no process
may remain under it. ``work`` is where the tests' manifests go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lablib.lab_defaults import MANIFESTS
from lablib.labs.retries_meet_breakers import mesh
from tests.outlier.conftest import lab_home  # noqa: F401  (the fixture: a private $LABLIB_HOME, no leftovers)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab05-manifests")


@pytest.fixture(scope="module")
def lab(lab_home: Path, work: Path) -> Iterator[object]:  # noqa: F811  (lab_home: the imported fixture)
    from lablib.lab import Lab

    lab = Lab(backend="embedded", name="lab05-tests", workers=2, service_time_ms=25)
    lab.apply(mesh.v1_only(work))
    lab.apply(MANIFESTS / "kubernetes/fortio.yaml")
    yield lab
    lab.cleanup()
