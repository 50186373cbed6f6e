"""Manifests the lab writes for the student (from an explorer's sliders), validated like a file they wrote.

One builder for every lab's DestinationRule: :func:`build_destination_rule` takes ``trafficPolicy`` blocks in
Istio's own field names (``connectionPool``, ``outlierDetection``) and returns the object as plain data;
:func:`write_manifest` writes it as YAML and loads it back through :func:`lablib.manifests.load_file`, so a
bad value fails exactly as in a hand-written file (``ValidationFailed``, every problem ``FILE:LINE: …``) and
no file is left behind. Lab 01's knobs (``circuit_breaking.knobs``) and lab 02's rule
(``outlier_detection.rule``) both use it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lablib._types import JSONDict, PathLike
from lablib.manifests import load_file

__all__ = ["NETWORKING_API_VERSION", "build_destination_rule", "manifest_text", "write_manifest"]

#: Istio's networking API version, as the book's manifests write it.
NETWORKING_API_VERSION = "networking.istio.io/v1"


def build_destination_rule(
    *,
    name: str = "service-go",
    host: str = "service-go",
    subsets: Sequence[str] = ("v1", "v2"),
    connection_pool: JSONDict | None = None,
    outlier_detection: JSONDict | None = None,
    base: JSONDict | None = None,
) -> JSONDict:
    """A DestinationRule whose ``spec.trafficPolicy`` carries the given blocks, in Istio's field names.

    Without ``base``: ``name``/``host``, one subset per name in ``subsets`` (selected by the ``version``
    label, as the book's service-go pods are). With ``base``: a deep copy of it (its name, host and subsets
    kept). A block given here replaces the rule's; an empty block (``{}``) removes it; ``None`` leaves it.
    A ``trafficPolicy`` left empty is removed, as the student would not write ``trafficPolicy: {}``.
    """
    if base is not None:
        dr = copy.deepcopy(base)
    else:
        spec: JSONDict = {"host": host}
        if subsets:
            spec["subsets"] = [{"name": s, "labels": {"version": s}} for s in subsets]
        dr = {"apiVersion": NETWORKING_API_VERSION, "kind": "DestinationRule", "metadata": {"name": name},
              "spec": spec}
    spec = dr.setdefault("spec", {})
    policy = dict(spec.get("trafficPolicy") or {})
    for field, block in (("connectionPool", connection_pool), ("outlierDetection", outlier_detection)):
        if block is None:
            continue
        if block:
            policy[field] = copy.deepcopy(block)
        else:
            policy.pop(field, None)
    if policy:
        # Istio's docs list host, trafficPolicy, subsets: keep that order in what the student reads
        rest = {k: v for k, v in spec.items() if k not in ("host", "trafficPolicy")}
        dr["spec"] = {**({"host": spec["host"]} if "host" in spec else {}), "trafficPolicy": policy, **rest}
    else:
        spec.pop("trafficPolicy", None)
    return dr


def manifest_text(obj: JSONDict | Sequence[JSONDict], *, comment: str = "") -> str:
    """YAML as the student would write it (keys in the given order), ``comment`` as ``#`` lines on top."""
    docs = [obj] if isinstance(obj, dict) else list(obj)
    header = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True) for d in docs)


def write_manifest(path: PathLike, obj: JSONDict | Sequence[JSONDict], *, comment: str = "",
                   context: Sequence[Any] = ()) -> Path:
    """Write ``obj`` to ``path`` and validate the file with ``lablib.manifests.load_file``; return the path.

    Raises ``ValidationFailed`` (problems positioned in the written file) and removes the file, so nothing
    invalid is left for a later ``apply``. ``context``: objects already applied, for the cross-object checks.
    """
    out = Path(path)
    out.write_text(manifest_text(obj, comment=comment), encoding="utf-8")
    try:
        load_file(out, context=context)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out
