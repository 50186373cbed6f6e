"""One embedded lab (real Envoy sidecars, service-go v1/v2, the book's rule with a pending limit) shared by
lab 03's tests of a module. It lives under a private ``$LABLIB_HOME``; no process may remain at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lablib.labs import where_the_limit_lives as limits
from lablib.notebook.book import MANIFESTS
from tests.outlier.conftest import lab_home  # noqa: F401  (the fixture: a private $LABLIB_HOME, no leftovers)


@pytest.fixture(scope="module")
def lab(lab_home: Path) -> Iterator[object]:  # noqa: F811  (lab_home: the imported fixture)
    from lablib.lab import Lab

    lab = Lab(backend="embedded", name="lab03-tests", workers=2, service_time_ms=25)
    lab.apply(limits.mesh.SERVICE)
    lab.apply(MANIFESTS / "kubernetes/fortio.yaml")
    lab.apply(limits.RULE)
    yield lab
    lab.cleanup()
