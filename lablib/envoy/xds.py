"""Pushing config to Envoys that read xDS from files, the way istiod pushes: write, confirm, roll back.

A push writes one DiscoveryResponse file (atomic rename: the running Envoy reloads it) and then confirms it
against what the live Envoy runs, never against what is on disk (a rejected file stays on disk): the
subscription's ``update_rejected`` counter must not move and its ``update_success`` must; then ``verify``
checks that the subscription's ``version_text`` is the pushed version and that ``/config_dump`` holds exactly
the pushed resources (routes each at the pushed ``version_info``, no listener in ``error_state``).

``push_all`` does that for every sidecar a change touches and, if any one rejects anything, puts every touched
sidecar back on its previous config and confirms that too: all or nothing. Envoy may take a CDS file and then
reject the matching RDS or LDS, or take the valid clusters of a rejected CDS file: the rollback covers the
rejecting sidecar as well. The sidecars are separate Envoys, so they are pushed (and rolled back) at the same
time, each its own files in order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lablib._exceptions import EnvoyError
from lablib._types import JSONDict
from lablib.envoy.admin import AdminClient
from lablib.envoy.bootstrap import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, discovery_response, write_atomic
from lablib.envoy.process import log_tail
from lablib.i18n import Joined, Msg, render

__all__ = ["PUSH_TIMEOUT_S", "RollbackFailed", "SidecarConfig", "XdsFile", "XdsRejected",
           "check_booted", "push", "push_all", "rollback_failed", "verify"]

#: How long a pushed file may take to be accepted or rejected before we call it lost.
PUSH_TIMEOUT_S = 10.0
#: ``push`` reads the counters again after 2 ms, then twice as long each time up to 16 ms: Envoy takes a file
#: within milliseconds, and an apply pushes three files to every sidecar.
_POLL_S = (0.002, 0.016)
#: Sidecars pushed at once: each push mostly waits for its Envoy, and the lab has at most 21 sidecars.
_PARALLEL = 8


@dataclass(frozen=True)
class _Kind:
    """How one xDS type shows up in Envoy's admin."""

    short: str  #: the xDS name (CDS, LDS, RDS)
    resource: tuple[str, ...]  #: ``/config_dump?resource=`` values holding the live resources
    mask: str | None = None  #: the fields ``verify`` needs (a dump of 1,000 whole clusters is megabytes)

    @property
    def what(self) -> Msg:
        """What a student calls the resources."""
        return {"CDS": Msg("envoy.xds.clusters"), "RDS": Msg("envoy.xds.routes"),
                "LDS": Msg("envoy.xds.listeners")}[self.short]


_KINDS = {
    CLUSTER_TYPE: _Kind("CDS", ("dynamic_active_clusters", "dynamic_warming_clusters"),
                        "cluster.name,version_info"),
    ROUTE_TYPE: _Kind("RDS", ("dynamic_route_configs",), "route_config.name,version_info"),
    LISTENER_TYPE: _Kind("LDS", ("dynamic_listeners",)),
}


def _subscriptions(type_url: str, resources: Sequence[JSONDict]) -> str | None:
    """Envoy's stats regex for the file subscriptions of one type (RDS: one per listener using a route;
    None when there are no routes, so no subscription)."""
    if type_url == CLUSTER_TYPE:
        return r"^cluster_manager\.cds\."
    if type_url == LISTENER_TYPE:
        return r"^listener_manager\.lds\."
    if not resources:
        return None
    names = "|".join(re.escape(str(r["name"])) for r in resources)
    return rf"^http\..*\.rds\.({names})\."


@dataclass(frozen=True)
class XdsFile:
    """One watched discovery file and the resources it should hold."""

    type_url: str
    path: Path
    resources: list[JSONDict] = field(default_factory=list)

    @property
    def kind(self) -> _Kind:
        return _KINDS[self.type_url]

    @property
    def names(self) -> list[str]:
        return [str(r["name"]) for r in self.resources]


@dataclass
class SidecarConfig:
    """Everything one sidecar should run. ``files`` go in push order: CDS, RDS, LDS (a route never names a
    cluster the sidecar lacks, a listener never a route it cannot load)."""

    sidecar: str  #: who, in the lab's words ("the fortio pod's sidecar"; a Msg)
    admin: AdminClient
    log_path: Path
    files: list[XdsFile]


class XdsRejected(EnvoyError):
    """An Envoy rejected (or failed to run) pushed config; ``envoy_output`` is its own message."""

    def __init__(self, message: str, *, sidecar: str, xds_file: XdsFile, version: str,
                 envoy_output: str = "") -> None:
        self.sidecar, self.xds_file, self.version = sidecar, xds_file, version
        #: what went wrong putting the previous config back (``push_all``); empty when all of it went back.
        self.rollback_problems: list[str] = []
        super().__init__(message, envoy_output=envoy_output)

    def in_lang(self, lang: str) -> str:
        text = super().in_lang(lang)
        if self.rollback_problems:
            text += "\n" + render(rollback_failed(self.rollback_problems), lang)
        return text

    @property
    def blamed(self) -> list[str]:
        """The pushed resources Envoy's message names (all of the file's when it names none). Envoy quotes a
        resource (``cluster 'x' config rejected``) or lists it (``cluster(s) x: …``)."""
        out = self.envoy_output
        named = [n for n in self.xds_file.names
                 if n and any(form in out for form in (f"'{n}'", f" {n}:", f" {n},"))]
        return named or self.xds_file.names


def _counts(admin: AdminClient, regex: str | None) -> dict[str, tuple[int, int]]:
    """``{subscription: (update_success, update_rejected + update_failure)}``."""
    if regex is None:
        return {}
    flat = admin.stats(regex + r".*update_(success|rejected|failure)$")
    out: dict[str, tuple[int, int]] = {}
    for key, value in flat.items():
        sub, _, stat = key.rpartition(".")
        ok, bad = out.get(sub, (0, 0))
        out[sub] = (ok + value, bad) if stat == "update_success" else (ok, bad + value)
    return out


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def push(sidecar: SidecarConfig, xds_file: XdsFile, version: str, *, timeout: float = PUSH_TIMEOUT_S) -> None:
    """Write ``xds_file`` at ``version`` and wait until every subscription to it accepted it.

    Always written, even when the file on disk already holds the same resources: a file Envoy rejected is on
    disk too. Raises ``XdsRejected`` (with Envoy's words from its log) when a subscription rejects it. A
    file nobody subscribes to yet (RDS before its listener exists) is loaded when the listener subscribes;
    ``verify`` checks it after the LDS push.
    """
    admin, kind = sidecar.admin, xds_file.kind
    regex = _subscriptions(xds_file.type_url, xds_file.resources)
    before = _counts(admin, regex)
    offset = _log_size(sidecar.log_path)
    write_atomic(xds_file.path, discovery_response(xds_file.resources, xds_file.type_url, version))
    if not before:
        return
    deadline = time.monotonic() + timeout
    pause, longest = _POLL_S
    while True:
        now = _counts(admin, regex)
        if any(now.get(s, c)[1] > c[1] for s, c in before.items()):
            time.sleep(0.05)  # Envoy logs the reason right after counting the rejection
            raise XdsRejected(Msg("envoy.xds.rejected_new", sidecar=sidecar.sidecar, what=kind.what,
                                  short=kind.short, version=version),
                              sidecar=sidecar.sidecar, xds_file=xds_file, version=version,
                              envoy_output=_log_since(sidecar.log_path, offset))
        if all(now.get(s, c)[0] > c[0] for s, c in before.items()):
            return
        if time.monotonic() > deadline:
            raise EnvoyError(Msg("envoy.xds.not_loaded", sidecar=sidecar.sidecar, what=kind.what,
                                 short=kind.short, version=version, timeout=timeout),
                             envoy_output=_log_since(sidecar.log_path, offset))
        time.sleep(pause)
        pause = min(pause * 2, longest)


def _live(admin: AdminClient, xds_file: XdsFile) -> dict[str, JSONDict]:
    """The resources of ``xds_file``'s type the Envoy runs now, by name (the dump items, masked small)."""
    live: dict[str, JSONDict] = {}
    for resource in xds_file.kind.resource:
        for item in admin.config_dump(resource, mask=xds_file.kind.mask):
            body = item.get("cluster") or item.get("route_config") or {}
            name = item.get("name") or body.get("name")
            if name and not (xds_file.type_url == LISTENER_TYPE and _only_draining(item)):
                live[str(name)] = item
    return live


def _only_draining(listener: JSONDict) -> bool:
    """A listener being removed shows only its ``draining_state`` until it drained."""
    return not any(k in listener for k in ("active_state", "warming_state", "error_state"))


def verify(sidecar: SidecarConfig, xds_file: XdsFile, version: str) -> None:
    """Check that the live Envoy runs ``xds_file`` at ``version``: its subscriptions' ``version_text``, and
    exactly the pushed resources in ``/config_dump`` (listeners without ``error_state``). Raises
    ``EnvoyError`` (``XdsRejected`` for a listener Envoy could not run)."""
    admin, kind = sidecar.admin, xds_file.kind
    regex = _subscriptions(xds_file.type_url, xds_file.resources)
    versions = admin.text_readouts(regex + r".*version_text$") if regex else {}
    stale = {s: v for s, v in versions.items() if v != version}
    if stale:
        raise EnvoyError(Msg("envoy.xds.stale_version", sidecar=sidecar.sidecar, short=kind.short,
                             versions=sorted(set(stale.values())), version=version))
    live = _live(admin, xds_file)
    for name, item in live.items():
        if "error_state" in item:
            raise XdsRejected(Msg("envoy.xds.listener_error", sidecar=sidecar.sidecar, name=name,
                                  short=kind.short, version=version),
                              sidecar=sidecar.sidecar, xds_file=xds_file, version=version,
                              envoy_output=str(item["error_state"].get("details", "")))
    want = set(xds_file.names)
    if xds_file.type_url == ROUTE_TYPE:
        # Routes exist in Envoy only while a listener uses them (their version is the subscription's
        # version_text above: a route's own version_info changes only when its content does).
        return
    missing, extra = sorted(want - set(live)), sorted(set(live) - want)
    if missing or extra:
        problems = [*([Msg("envoy.xds.missing", names=missing[:5])] if missing else []),
                    *([Msg("envoy.xds.unexpected", names=extra[:5])] if extra else [])]
        raise EnvoyError(Msg("envoy.xds.not_as_pushed", sidecar=sidecar.sidecar, what=kind.what,
                             version=version, problems=Joined(problems, "; ")))


def check_booted(sidecar: SidecarConfig, version: str) -> None:
    """A sidecar that just booted on its files at ``version``: raise ``XdsRejected`` if it rejected one of
    them (it would start and serve nothing), else ``verify`` each."""
    for xds_file in sidecar.files:
        regex = _subscriptions(xds_file.type_url, xds_file.resources)
        if xds_file.type_url != ROUTE_TYPE and any(v[1] for v in _counts(sidecar.admin, regex).values()):
            kind = xds_file.kind
            raise XdsRejected(Msg("envoy.xds.rejected_first", sidecar=sidecar.sidecar, what=kind.what,
                                  short=kind.short, version=version), sidecar=sidecar.sidecar,
                              xds_file=xds_file, version=version, envoy_output=log_tail(sidecar.log_path))
    for xds_file in sidecar.files:
        verify(sidecar, xds_file, version)


def _apply(sidecar: SidecarConfig, version: str, timeout: float) -> None:
    for xds_file in sidecar.files:
        push(sidecar, xds_file, version, timeout=timeout)
    for xds_file in sidecar.files:
        verify(sidecar, xds_file, version)


def push_all(new: Sequence[SidecarConfig], old: Sequence[SidecarConfig], *, version: str, old_version: str,
             timeout: float = PUSH_TIMEOUT_S) -> None:
    """Make every sidecar of ``new`` run its config at ``version``, or none of them.

    The sidecars are pushed at the same time, each its files in order. On any rejection (or a sidecar that
    stops answering), every sidecar of ``new``, the failing one included, gets its config from ``old`` (same
    sidecar name) back at ``old_version``, confirmed the same way; then the error is raised (a rejection
    first, if several failed). A sidecar with no entry in ``old`` is new: the caller stops it.
    If putting the old config back fails too, an ``XdsRejected`` says so in its ``rollback_problems``; any
    other error becomes a ``RollbackFailed`` (the error, then that line).
    """
    previous = {s.sidecar: s for s in old}
    failed = [e for e in _each(new, lambda s: _apply(s, version, timeout)) if e is not None]
    if not failed:
        return
    # A rejection says the most (it is blamed on a manifest line), then any other answer of an Envoy.
    exc = next((e for e in failed if isinstance(e, XdsRejected)),
               next((e for e in failed if isinstance(e, EnvoyError)), failed[0]))
    # Every sidecar was pushed (at the same time): every one goes back, the failing ones included.
    back = [previous[s.sidecar] for s in new if s.sidecar in previous]
    problems = [Joined([again], first_line=True)
                for again in _each(back, lambda s: _apply(s, old_version, timeout))
                if isinstance(again, EnvoyError)]
    if problems and isinstance(exc, EnvoyError):
        if not isinstance(exc, XdsRejected):
            raise RollbackFailed(exc, problems) from exc
        exc.rollback_problems = problems
        exc.args = (exc.in_lang("en"),)
    raise exc


def _each(sidecars: Sequence[SidecarConfig], work: Callable[[SidecarConfig], None]
          ) -> list[BaseException | None]:
    """``work`` on every sidecar at once (one thread each, up to ``_PARALLEL``); each one's exception or None,
    in the sidecars' order. Every one runs to its end, whatever the others do."""
    if len(sidecars) <= 1:
        out: list[BaseException | None] = []
        for sidecar in sidecars:
            try:
                work(sidecar)
                out.append(None)
            except BaseException as exc:  # handed to the caller, which raises it
                out.append(exc)
        return out
    with ThreadPoolExecutor(max_workers=min(len(sidecars), _PARALLEL), thread_name_prefix="xds") as pool:
        futures = [pool.submit(work, s) for s in sidecars]
        return [f.exception() for f in futures]


class RollbackFailed(EnvoyError):
    """A push failed (``error``) and putting the previous config back failed too (``problems``): the error's
    text, then the line that says so. ``envoy_output`` is the error's."""

    def __init__(self, error: EnvoyError, problems: Sequence[str]) -> None:
        self.error, self.rollback_problems = error, list(problems)
        super().__init__(Joined([error, rollback_failed(problems)]))
        self.envoy_output = error.envoy_output

    def in_lang(self, lang: str) -> str:
        return render(self.message, lang)


def rollback_failed(problems: Sequence[str]) -> Msg:
    """The line that says the previous config could not be put back everywhere, and what to do."""
    return Msg("envoy.xds.rollback_failed", problems=Joined(problems, "; "))
