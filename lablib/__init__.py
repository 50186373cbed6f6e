"""lablib: a Jupyter teaching lab for Istio/Envoy circuit breaking.

>>> from lablib import Lab                                                   # doctest: +SKIP
>>> lab = Lab()    # kind when usable, else real Envoy sidecars on 127.0.0.1  # doctest: +SKIP

The top level re-exports what a notebook or a script needs; the subpackages hold the rest:
``lablib.manifests`` (load and validate YAML), ``lablib.translate`` (Istio -> Envoy, pure),
``lablib.fortio`` (the load generator and the result reader), ``lablib.theory`` (limits and simulation),
``lablib.notebook`` (the notebook kit: runs, checks, tables, plots), ``lablib.labs`` (one package per lab),
``lablib.backends`` (embedded mesh and kind).
Notebooks that teach each part: ``labs/01-circuit-breaking.ipynb``, ``labs/02-outlier-detection.ipynb``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Eager, whatever is imported next: it installs the catalogue into lablib._exceptions, so every LabError
# renders in either language in any process (tests/i18n/test_exceptions_layer.py).
import lablib.i18n  # noqa: F401
from lablib import _lazy

if TYPE_CHECKING:
    from lablib._exceptions import (
        BackendError,
        BackendUnavailable,
        ClusterSafetyError,
        EnvoyError,
        FortioError,
        FortioUsageError,
        LabError,
        LabNotRunning,
        ManifestError,
        ParameterError,
        SchemaError,
        UnknownKindError,
        ValidationFailed,
        YAMLSyntaxError,
    )
    from lablib.backends.base import Backend, ClusterStats, HostStatus
    from lablib.fortio import FortioResult, read_result
    from lablib.lab import Lab, choose_backend
    from lablib.manifests import Manifest, Problem, load_file, load_files, validate_files
    from lablib.translate import MeshConfig, render_yaml  # not translate(): it would shadow lablib.translate

#: Where each top-level name lives, loaded on first use (PEP 562): a process that needs one part (a service-go
#: pod, a fortio worker process) does not import the others (a service-go pod: 70 ms of imports, not 136 ms).
_HOMES = {
    **dict.fromkeys(("BackendError", "BackendUnavailable", "ClusterSafetyError", "EnvoyError", "FortioError",
                     "FortioUsageError", "LabError", "LabNotRunning", "ManifestError", "ParameterError",
                     "SchemaError", "UnknownKindError", "ValidationFailed", "YAMLSyntaxError"),
                    "lablib._exceptions"),
    **dict.fromkeys(("Backend", "ClusterStats", "HostStatus"), "lablib.backends.base"),
    **dict.fromkeys(("FortioResult", "read_result"), "lablib.fortio"),
    **dict.fromkeys(("Lab", "choose_backend"), "lablib.lab"),
    **dict.fromkeys(("Manifest", "Problem", "load_file", "load_files", "validate_files"), "lablib.manifests"),
    **dict.fromkeys(("MeshConfig", "render_yaml"), "lablib.translate"),
}


__getattr__ = _lazy.loader(__name__, _HOMES, globals())

__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "ClusterSafetyError",
    "ClusterStats",
    "EnvoyError",
    "FortioError",
    "FortioResult",
    "FortioUsageError",
    "HostStatus",
    "Lab",
    "LabError",
    "LabNotRunning",
    "Manifest",
    "ManifestError",
    "MeshConfig",
    "ParameterError",
    "Problem",
    "SchemaError",
    "UnknownKindError",
    "ValidationFailed",
    "YAMLSyntaxError",
    "choose_backend",
    "load_file",
    "load_files",
    "read_result",
    "render_yaml",
    "validate_files",
]
