"""Shared fixtures for the manifest tests: the repository's manifests, the seed's text, file writers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lablib.manifests import Manifest, Problem, load_files

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"

#: The seed's DestinationRule exactly as printed in the book (circuit-breaking-seed.md), with line numbers;
#: line 1 has a FULL-WIDTH colon (U+FF1A).
SEED_LISTING = """\
 1 apiVersion\uff1anetworking.istio.io/v1alpha3
 2 kind: DestinationRule
 3 metadata:
 4   name: service-go
 5 spec:
 6   host: service-go
 7   trafficPolicy:
 8     connectionPool:
 9       tcp:
10         maxConnections: 10
11       http:
12         http2MaxRequests: 10
13         maxRequestsPerConnection: 10
14     outlierDetection:
15       consecutiveErrors: 3
16       interval: 3s
17       baseEjectionTime: 3m
18       maxEjectionPercent: 100
19   subsets:
20   - name: v1
21     labels:
22       version: v1
23   - name: v2
24     labels:
25       version: v2
"""

#: The same rule without the book's line numbers: what a student pastes into a file.
SEED_TEXT = "".join(line[3:] + "\n" for line in SEED_LISTING.splitlines())


def line_containing(text: str, fragment: str) -> int:
    """The 1-based number of the only line of ``text`` containing ``fragment``."""
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(lines) == 1, f"{fragment!r} is on lines {lines}"
    return lines[0]


def assert_actionable(problem: Problem, file: str | Path, line: int) -> None:
    """The problem prints as FILE:LINE: …, and says how to fix it."""
    text = str(problem)
    assert text.startswith(f"{file}:{line}: "), text
    assert problem.fix and problem.fix in text, text
    assert (problem.severity == "warning") == text.startswith(f"{file}:{line}: warning: "), text


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a manifest file under the test's temporary directory (removed by pytest)."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def workloads() -> list[Manifest]:
    """The lab's state before the Istio steps: the fortio pod and service-go (Service + two Deployments)."""
    return load_files(
        [MANIFESTS / "kubernetes" / "fortio.yaml", MANIFESTS / "service" / "go" / "service-go.yaml"]
    )


@pytest.fixture(scope="session")
def seed_listing() -> str:
    return SEED_LISTING


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED_TEXT


@pytest.fixture(scope="session")
def manifests_dir() -> Path:
    return MANIFESTS


@pytest.fixture(scope="session")
def actionable() -> Callable[[Problem, str | Path, int], None]:
    """``actionable(problem, file, line)``: assert it prints as FILE:LINE: … and carries its fix."""
    return assert_actionable


@pytest.fixture(scope="session")
def line_of() -> Callable[[str, str], int]:
    """``line_of(text, fragment)``: the line of ``text`` holding ``fragment`` (the expected problem line)."""
    return line_containing
