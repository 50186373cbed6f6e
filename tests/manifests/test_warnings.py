"""Warnings reach whoever loads: ``load_file`` issues each warning Problem as a ``LabWarning`` at the
manifest's FILE:LINE (a notebook shows it with the YAML line; the CLI prints ``Warning: FILE:LINE: …``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from lablib import ValidationFailed
from lablib.manifests import LabWarning, load_file

REPO = Path(__file__).resolve().parents[2]
SEED_DR = REPO / "manifests" / "istio" / "resilience" / "destination-rule-go-cb.yaml"


def test_load_file_issues_each_warning_at_its_manifest_line() -> None:
    with pytest.warns(LabWarning) as record:
        objects = load_file(SEED_DR)
    assert [m.kind for m in objects] == ["DestinationRule"]
    (warning,) = [w for w in record if issubclass(w.category, LabWarning)]
    assert (warning.filename, warning.lineno) == (str(SEED_DR), 23)
    assert str(warning.message).startswith(
        "DestinationRule/service-go: spec.trafficPolicy.outlierDetection.consecutiveErrors: "
        "consecutiveErrors is deprecated and IGNORED"
    )


def test_a_notebook_shows_the_warning_with_the_yaml_line_it_is_about() -> None:
    with pytest.warns(LabWarning) as record:
        load_file(SEED_DR)
    w = record[0]
    shown = warnings.formatwarning(w.message, w.category, w.filename, w.lineno)  # what Jupyter prints
    assert shown.startswith(f"{SEED_DR}:23: LabWarning: DestinationRule/service-go: ")
    assert "consecutiveErrors: 3" in shown.splitlines()[-1]  # the student's own line, from the file


def test_each_load_shows_its_warnings_again(tmp_path: Path) -> None:
    # `default` filtering would show a warning once per location; a student who applies twice sees it twice.
    with pytest.warns(LabWarning) as first:
        load_file(SEED_DR)
    with pytest.warns(LabWarning) as second:
        load_file(SEED_DR)
    assert len(first) == len(second) == 1


def test_a_file_with_errors_raises_and_issues_no_warning(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SEED_DR.read_text().replace("maxConnections: 10", "maxConnections: -1"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(ValidationFailed) as failed:
            load_file(bad)
    assert not [w for w in record if issubclass(w.category, LabWarning)]
    assert any(p.severity == "warning" for p in failed.value.problems)  # still carried, for who wants them
