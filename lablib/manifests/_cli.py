"""``python -m lablib validate FILE|DIR…``: check manifests like ``istioctl analyze``; ``FILE:LINE: …``.

Exit status: 0 when there is no error (warnings allowed), 1 when there is an error, 2 for usage errors.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lablib.manifests._load import _validate

__all__ = ["main"]

USAGE = """\
usage: python -m lablib validate FILE|DIR…

Check Kubernetes/Istio manifests (Pod, Deployment, Service, VirtualService, DestinationRule, Sidecar)
together, as the lab would apply them: YAML syntax (full-width punctuation included), fields, types,
durations and ranges, then across files (routes to undefined subsets, subsets that select no pod, two rules
for one host, a Sidecar that selects no pod or names a port its pods do not serve).
A directory means every *.yaml / *.yml file under it (kind cluster configs and CRDs skipped).
Prints FILE:LINE: problem; fix.
Exit status: 0 no error (warnings allowed), 1 errors found, 2 usage error."""


# Cluster set-up files, not objects the lab applies: kind cluster configs (``kind create cluster --config``)
# and CustomResourceDefinitions (manifests/kind/istio-crds.yaml, installed by the cluster tooling).
_KIND_CONFIG = re.compile(r"^apiVersion:\s*(?:kind\.x-k8s\.io|apiextensions\.k8s\.io)/", re.MULTILINE)


def _is_kind_config(path: Path) -> bool:
    """A cluster set-up file (kind config, CRDs), not an object the lab applies."""
    try:
        return bool(_KIND_CONFIG.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False


def _expand(args: list[str]) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    missing: list[str] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            files += [p for p in found if not _is_kind_config(p)]
        elif path.is_file():
            files.append(path)
        else:
            missing.append(arg)
    return files, missing


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (the arguments after ``validate``); return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    options = [a for a in args if a.startswith("-") and a != "-"]
    if not args or options:
        reason = f"unknown option {options[0]}" if options else "no file given"
        print(f"lablib validate: {reason}\n\n{USAGE}", file=sys.stderr)
        return 2
    files, missing = _expand(args)
    if missing:
        for arg in missing:
            print(f"lablib validate: {arg}: no such file or directory", file=sys.stderr)
        return 2
    if not files:
        print(f"lablib validate: no .yaml or .yml file in {' '.join(args)}", file=sys.stderr)
        return 2
    manifests, problems = _validate(files, ())
    for problem in problems:
        print(problem)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    checked = f"{len(files)} file(s), {len(manifests)} object(s)"
    if problems:
        print(f"{checked}: {errors} error(s), {warnings} warning(s)")
    else:
        print(f"{checked}: no problems")
    return 1 if errors else 0
