"""The cluster backend: the lab's notebooks on a real kind cluster with Istio (or an allowed existing
cluster).

>>> from lablib.backends.kind import detect, KindBackend
>>> found = detect()
>>> if found.usable:  # docker daemon + kind + istioctl            # doctest: +SKIP
...     with KindBackend(name="istio-cb-lab") as kb:
...         kb.apply("manifests/kubernetes/fortio.yaml")

``_plan`` builds every request as data (testable without a cluster); ``backend`` holds the verbs,
``_cluster`` the set-up (kind cluster, Istio, images), ``_api`` the Kubernetes API access (discovery,
retries, server-side apply), where ``_errors._map_errors`` turns client errors into lablib errors;
``_safety`` decides which Kubernetes context may be touched, ``_state`` records what the lab created.
See docs/cluster-backend.md.
"""

from lablib.backends.kind._detect import INSTALL_HINTS, Detection, detect
from lablib.backends.kind._plan import FIELD_MANAGER, LAB_LABEL
from lablib.backends.kind._safety import ALLOW_ENV, KubeContext, allowed_contexts, check_context, load_context
from lablib.backends.kind._state import State, state_dir
from lablib.backends.kind.backend import CONTEXT_ENV, DEFAULT_TIMEOUTS, MIN_KUBERNETES, KindBackend

__all__ = [
    "ALLOW_ENV",
    "CONTEXT_ENV",
    "DEFAULT_TIMEOUTS",
    "FIELD_MANAGER",
    "INSTALL_HINTS",
    "LAB_LABEL",
    "MIN_KUBERNETES",
    "Detection",
    "KindBackend",
    "KubeContext",
    "State",
    "allowed_contexts",
    "check_context",
    "detect",
    "load_context",
    "state_dir",
]
