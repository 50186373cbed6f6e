"""The public surface is what ``lablib.__all__`` says, every name is importable and documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

import lablib

EXPECTED_TOP_LEVEL = {
    "Backend", "BackendError", "BackendUnavailable", "ClusterSafetyError", "ClusterStats", "EnvoyError",
    "FortioError", "FortioResult", "FortioUsageError", "HostStatus", "Lab", "LabError", "LabNotRunning",
    "Manifest", "ManifestError", "MeshConfig", "ParameterError", "Problem", "SchemaError", "UnknownKindError",
    "ValidationFailed", "YAMLSyntaxError", "choose_backend", "load_file", "load_files", "read_result",
    "render_yaml", "validate_files",
}

SUBPACKAGES = ["lablib.manifests", "lablib.translate", "lablib.fortio", "lablib.theory", "lablib.notebook",
               "lablib.labs", "lablib.backends", "lablib.backends.kind", "lablib.labs.outlier_detection",
               "lablib.labs.where_the_limit_lives", "lablib.labs.circuit_breaking",
               "lablib.labs.reproducing_published_runs"]


def test_top_level_all_is_the_curated_surface() -> None:
    assert set(lablib.__all__) == EXPECTED_TOP_LEVEL
    assert lablib.__all__ == sorted(lablib.__all__, key=str)


@pytest.mark.parametrize("module_name", ["lablib", *SUBPACKAGES])
def test_every_exported_name_exists_and_public_callables_are_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__, f"{module_name} has no module docstring"
    exported = getattr(module, "__all__", None)
    assert exported, f"{module_name} defines no __all__"
    undocumented = []
    for name in exported:
        obj = getattr(module, name)  # AttributeError here means __all__ names something missing
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            undocumented.append(name)
    assert not undocumented, f"{module_name}: no docstring on {undocumented}"


def test_no_top_level_name_shadows_a_subpackage() -> None:
    import lablib.fortio
    import lablib.translate

    assert inspect.ismodule(lablib.translate) and inspect.ismodule(lablib.fortio)
    assert not set(lablib.__all__) & {m.rsplit(".", 1)[-1] for m in SUBPACKAGES}


def test_every_lab_error_is_a_lab_error() -> None:
    errors = [getattr(lablib, n) for n in lablib.__all__ if n.endswith(("Error", "Failed", "Unavailable",
                                                                        "Running"))]
    assert errors and all(issubclass(e, lablib.LabError) for e in errors)


def test_the_notebook_kit_loads_each_part_on_first_use() -> None:
    """``lablib.notebook`` names where each of its names lives and imports it when first asked: a lab that
    uses only checks and tables (lab 04) loads neither ipywidgets nor plotly (0.1 s of its first cell)."""
    import subprocess
    import sys

    import lablib.notebook as kit

    assert set(kit._HOMES) == set(kit.__all__)
    code = ("import sys\nfrom lablib.notebook import checks, set_language, HTML\n"
            "print(sorted(m for m in ('ipywidgets', 'plotly') if m in sys.modules))\n"
            "from lablib.notebook import show_exercise, share_figure\n"
            "print(sorted(m for m in ('ipywidgets', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "['ipywidgets', 'plotly']"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        kit.nothing  # noqa: B018


def test_the_top_level_loads_each_name_on_first_use() -> None:
    """``lablib``'s names load when first asked, so a service-go pod (a process per pod start) imports its own
    package and not the lab's backends, manifests, translator or fortio."""
    import subprocess
    import sys

    assert set(lablib._HOMES) == set(lablib.__all__)
    heavy = ("lablib.backends", "lablib.manifests", "lablib.translate", "lablib.fortio", "lablib.lab")
    loaded = f"print(sorted(m for m in {heavy} if m in sys.modules))"
    code = f"import sys\nimport lablib.service_go.__main__\n{loaded}\nfrom lablib import Lab\n{loaded}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    alone, then = out.stdout.split("\n")[:2]
    assert alone == "[]" and "'lablib.lab'" in then
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        lablib.nothing  # noqa: B018
