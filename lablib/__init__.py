"""lablib: a Jupyter teaching lab for Istio/Envoy circuit breaking.

The public surface is curated here; implementation modules are private or live in subpackages.
"""

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
    SchemaError,
    UnknownKindError,
    ValidationFailed,
    YAMLSyntaxError,
)

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ClusterSafetyError",
    "EnvoyError",
    "FortioError",
    "FortioUsageError",
    "LabError",
    "LabNotRunning",
    "ManifestError",
    "SchemaError",
    "UnknownKindError",
    "ValidationFailed",
    "YAMLSyntaxError",
]
