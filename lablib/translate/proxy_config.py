"""PURE: the pod annotation ``proxy.istio.io/config`` (a ProxyConfig in YAML) -> the sidecar's Envoy flags.

Only ``concurrency`` matters to the lab: Envoy's ``--concurrency`` (worker threads). Istio's ProxyConfig
(istio/api ``mesh/v1alpha1/proxy.proto``, field 16): "The number of worker threads to run. If unset, this will
be automatically determined based on CPU requests/limits. If set to 0, all cores on the machine will be used.
Default is 2 worker threads." Istio 1.30's pilot-agent derives an unset value from the sidecar's CPU limit
(rounded up: 2 under Istio's default ``limits.cpu: 2000m``; docs/claims.yaml,
``istio.proxy.concurrency-from-cpu-limit``).
The lab's sidecars have no CPU limit, so unset is the lab's ``workers`` default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml

from lablib._exceptions import LabError
from lablib.i18n import Msg

__all__ = ["PROXY_CONFIG_ANNOTATION", "proxy_concurrency", "sidecar_workers"]

#: The pod annotation that overrides the mesh's ProxyConfig for one pod's sidecar.
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"


def proxy_concurrency(annotations: Mapping[str, Any] | None) -> int | None:
    """``concurrency`` of the pod's ``proxy.istio.io/config`` annotation, None when it does not set it.

    Raises ``LabError`` when the annotation is not YAML or concurrency is not a whole number >= 0 (Istio's
    injector rejects such a pod too).
    """
    text = (annotations or {}).get(PROXY_CONFIG_ANNOTATION)
    if not text:
        return None
    try:
        config = yaml.safe_load(str(text))
    except yaml.YAMLError as exc:
        raise LabError(Msg("translate.proxy_config.not_yaml", annotation=PROXY_CONFIG_ANNOTATION,
                           error=str(exc))) from None
    if not isinstance(config, Mapping) or "concurrency" not in config:
        return None
    value = config["concurrency"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LabError(Msg("translate.proxy_config.concurrency", annotation=PROXY_CONFIG_ANNOTATION,
                           value=value))
    return value


def sidecar_workers(annotations: Mapping[str, Any] | None, default: int | None) -> int | None:
    """Envoy ``--concurrency`` of a pod's sidecar: its annotation's (0: every core), else ``default``."""
    value = proxy_concurrency(annotations)
    if value is None:
        return default
    return value or (os.cpu_count() or 1)
