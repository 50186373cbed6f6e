"""Load and validate the lab's manifests, keeping positions, like ``kubectl apply`` plus ``istioctl analyze``.

>>> from lablib.manifests import load_file, validate_files
>>> objects = load_file("manifests/istio/resilience/destination-rule-go-cb.yaml")  # raises ValidationFailed
>>> for problem in validate_files(["manifests/istio/resilience/destination-rule-go-cb.yaml"]):
...     print(problem)  # FILE:LINE: warning: DestinationRule/service-go: spec….consecutiveErrors: …; use …

Every problem names the file, the line and the fix. ``python -m lablib validate FILE…`` prints them.
``load_file`` raises ``ValidationFailed`` on any error and issues each warning as a ``LabWarning`` (at the
manifest's FILE:LINE), which a notebook shows and ``python -m lablib apply`` prints as ``Warning: …``.
Input is bounded like the API server's (size, depth, aliases, object counts: ``_limits``).
"""

import contextlib as _contextlib

from lablib._exceptions import LabWarning
from lablib.manifests._checks import fqdn
from lablib.manifests._load import load_file, load_files, parse_manifests, read_file, validate_files, warn
from lablib.manifests._problem import Problem
from lablib.manifests.objects import SUPPORTED_KINDS, Manifest, PodTemplate, Source, as_manifest, pods_of

__all__ = [
    "SUPPORTED_KINDS",
    "LabWarning",
    "Manifest",
    "PodTemplate",
    "Problem",
    "Source",
    "as_manifest",
    "fqdn",
    "load_file",
    "load_files",
    "parse_manifests",
    "pods_of",
    "read_file",
    "validate_files",
    "warn",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and getattr(_obj, "__module__", "").startswith("lablib.manifests."):
        with _contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "lablib.manifests"
