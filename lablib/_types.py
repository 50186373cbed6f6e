"""Type aliases shared across lablib."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Union

__all__ = ["JSONDict", "PathLike", "Seconds", "Spec"]

PathLike = Union[str, "os.PathLike[str]"]
Seconds = float
#: A Kubernetes/Istio object as plain data (apiVersion, kind, metadata, spec).
Spec = Mapping[str, Any]
#: An Envoy configuration fragment as JSON-able data (proto3 JSON field names, snake_case).
JSONDict = dict[str, Any]
