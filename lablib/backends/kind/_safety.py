"""Which Kubernetes context the lab may touch, decided before the first request is sent.

The rule: a context is usable when it is a kind cluster the lab created (its name *and* API server match the
record in the state file), or when the user named it in an allow-list (``allow_contexts=[…]`` or the
comma-separated ``LABLIB_ALLOW_CONTEXTS``). Everything else raises :class:`lablib.ClusterSafetyError` saying
how
to allow it. Contexts are read by the real ``kubernetes`` config loader, so ``KUBECONFIG`` with several files,
``current-context`` and exec/token users behave as with kubectl.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lablib._exceptions import ClusterSafetyError
from lablib.i18n import Msg

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from lablib.backends.kind._state import State

__all__ = ["ALLOW_ENV", "KubeContext", "allowed_contexts", "check_context", "load_context"]

#: Comma-separated context names the user allows the lab to apply to and delete from.
ALLOW_ENV = "LABLIB_ALLOW_CONTEXTS"


@dataclass(frozen=True)
class KubeContext:
    """One kubeconfig context as the kubernetes client resolved it."""

    name: str
    cluster: str
    server: str
    user: str = ""
    namespace: str | None = None


def allowed_contexts(explicit: Iterable[str] = (),
                     environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The allow-list: ``explicit`` names plus those in ``$LABLIB_ALLOW_CONTEXTS`` (comma-separated)."""
    env = os.environ if environ is None else environ
    names = {n.strip() for n in explicit if n and n.strip()}
    names |= {n.strip() for n in env.get(ALLOW_ENV, "").split(",") if n.strip()}
    return frozenset(names)


def load_context(kubeconfig: str | os.PathLike[str] | None, context: str | None, *,
                 temp_dir: str | os.PathLike[str] | None = None) -> tuple[KubeContext, ApiClient]:
    """Resolve ``context`` (None = the kubeconfig's current-context) and build an ``ApiClient`` for it.

    ``kubeconfig`` None means what kubectl reads: ``$KUBECONFIG`` (several files merged) or
    ``~/.kube/config``.
    Certificates embedded in the kubeconfig are written under ``temp_dir`` (the lab's state directory).
    """
    from kubernetes import client, config

    # Read $KUBECONFIG now: the client reads it once, at import, as its default location.
    path = os.fspath(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG") or None
    path = path or os.path.expanduser("~/.kube/config")
    contexts, current = config.list_kube_config_contexts(config_file=path)
    if context is None:
        if not current:
            raise ClusterSafetyError(Msg("kind.safety.no_current_context", path=path))
        chosen = current
    else:
        chosen = next((c for c in contexts if c.get("name") == context), None)
        if chosen is None:
            names = sorted(c.get("name", "?") for c in contexts) or Msg("kind.none")
            raise ClusterSafetyError(Msg("kind.safety.no_such_context", path=path, context=context,
                                         names=names))
    cfg = client.Configuration()
    config.load_kube_config(config_file=path, context=chosen["name"], client_configuration=cfg,
                            persist_config=False,
                            temp_file_path=os.fspath(temp_dir) if temp_dir is not None else None)
    ctx = chosen.get("context") or {}
    kube = KubeContext(name=chosen["name"], cluster=ctx.get("cluster", ""), server=cfg.host,
                       user=ctx.get("user", ""), namespace=ctx.get("namespace"))
    return kube, client.ApiClient(configuration=cfg)


def check_context(ctx: KubeContext, *, state: State, allow: Iterable[str] = ()) -> str:
    """Return why the lab may use ``ctx`` (``"created"`` or ``"allowed"``), or raise ClusterSafetyError."""
    if state.created_context(ctx.name, ctx.server) is not None:
        return "created"
    allowed = allowed_contexts(allow)
    if ctx.name in allowed:
        return "allowed"
    raise ClusterSafetyError(Msg("kind.safety.refused", context=ctx.name, server=ctx.server, path=state.path,
                                 env=ALLOW_ENV))
