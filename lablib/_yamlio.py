"""YAML the lab itself wrote or Envoy's config dumps, read through libyaml when PyYAML has it.

PyPI's PyYAML wheels carry libyaml; its reader is 10-20x faster than the pure-Python one (lab 04's table of
measured effects: 110 ms -> 10 ms; the message catalogue at lablib's first import: 160 ms -> 10 ms; a
sidecar's config dump on every check). The documents are the same: both are PyYAML's safe constructor over
the same resolver. Writing stays ``yaml.safe_dump``: libyaml's emitter folds long strings elsewhere, and
what a student reads should not change with how PyYAML was built. A student's manifests are not read here:
they go through ``lablib.manifests`` (positions, size and alias caps).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["LOADER", "YAMLError", "load", "load_all"]

YAMLError = yaml.YAMLError
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml."""
    return yaml.load(text, Loader=LOADER)


def load_all(text: str) -> list[Any]:
    """``yaml.safe_load_all`` through libyaml, as a list."""
    return list(yaml.load_all(text, Loader=LOADER))

