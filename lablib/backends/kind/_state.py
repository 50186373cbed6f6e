"""What the lab created, on disk: which kind clusters are its own, and which kinds it applied where.

The record is what makes cleanup safe: ``cleanup(delete_cluster=True)`` deletes a kind cluster only when
this file
says the lab created it, and the context check trusts a context only when its name *and* API server match the
record. The file lives in ``$LABLIB_HOME/kind/state.json`` (default ``~/.cache/lablib/kind/state.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from lablib._exceptions import BackendError
from lablib.i18n import Msg

__all__ = ["State", "state_dir"]


def state_dir() -> Path:
    """``$LABLIB_HOME/kind``, or ``~/.cache/lablib/kind`` (``$XDG_CACHE_HOME`` respected)."""
    home = os.environ.get("LABLIB_HOME")
    if home:
        return Path(home).expanduser() / "kind"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "lablib" / "kind"


class State:
    """The lab's record. Every change is written at once (atomically), so a crash never loses a creation."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else state_dir()
        self.path = self.directory / "state.json"
        self.data: dict[str, Any] = {"clusters": {}, "applied": {}, "namespaces": {}}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                # A damaged record must not be mistaken for "created nothing" silently.
                raise BackendError(Msg("kind.state.unreadable", path=self.path, error=str(exc))) from exc
            self.data["clusters"] = dict(loaded.get("clusters", {}))
            self.data["applied"] = dict(loaded.get("applied", {}))
            self.data["namespaces"] = dict(loaded.get("namespaces", {}))

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig the lab writes for clusters it creates (kept apart from ``~/.kube/config``)."""
        return self.directory / "kubeconfig"

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- clusters the lab created ----------------------------------------------------------------------------
    def record_created(self, cluster: str, *, context: str, server: str, kubeconfig: str) -> None:
        self.data["clusters"][cluster] = {"context": context, "server": server, "kubeconfig": kubeconfig,
                                          "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.save()

    def update_server(self, cluster: str, server: str) -> None:
        """kind may move the API server's port when the node restarts; the record follows its own cluster."""
        if cluster in self.data["clusters"]:
            self.data["clusters"][cluster]["server"] = server
            self.save()

    def forget(self, cluster: str) -> None:
        if self.data["clusters"].pop(cluster, None) is not None:
            self.save()

    def created(self, cluster: str) -> dict[str, Any] | None:
        """The record of a kind cluster the lab created, or None."""
        return self.data["clusters"].get(cluster)

    def created_context(self, context: str, server: str) -> str | None:
        """Name of the lab-created kind cluster behind ``context`` at ``server``, or None."""
        for cluster, rec in self.data["clusters"].items():
            if rec.get("context") == context and rec.get("server") == server:
                return cluster
        return None

    # -- kinds applied, so cleanup also lists kinds outside its default set ----------------------------------
    def record_applied(self, context: str, lab: str, kinds: list[tuple[str, str]]) -> None:
        known = self.data["applied"].setdefault(context, {}).setdefault(lab, [])
        new = [list(k) for k in kinds if list(k) not in known]
        if new:
            known.extend(new)
            self.save()

    def applied_kinds(self, context: str, lab: str) -> list[tuple[str, str]]:
        return [(a, k) for a, k in self.data["applied"].get(context, {}).get(lab, [])]

    def forget_applied(self, context: str, lab: str) -> None:
        if self.data["applied"].get(context, {}).pop(lab, None) is not None:
            self.save()

    # -- namespaces the lab created (labelling one that did not exist creates it), so cleanup deletes them --
    def record_namespace(self, context: str, lab: str, namespace: str) -> None:
        known = self.data["namespaces"].setdefault(context, {}).setdefault(lab, [])
        if namespace not in known:
            known.append(namespace)
            self.save()

    def created_namespaces(self, context: str, lab: str) -> list[str]:
        return list(self.data["namespaces"].get(context, {}).get(lab, []))

    def forget_namespaces(self, context: str, lab: str) -> None:
        if self.data["namespaces"].get(context, {}).pop(lab, None) is not None:
            self.save()
