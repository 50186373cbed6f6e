"""Check cells: did the step work? Each check returns a ``Check`` that renders as a green or red line in HTML.

Notebook cells call these instead of bare ``assert``s so a student sees what went wrong and what to do next,
and the notebook keeps running (``Check.raise_if_failed()`` is there for CI).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from lablib import _yamlio
from lablib._exceptions import LabError
from lablib.i18n import t
from lablib.notebook import contention
from lablib.notebook.runs import RunPoint

__all__ = [
    "Check",
    "CheckFailed",
    "all_of",
    "breaker_applied",
    "breaker_trips",
    "cleaned_up",
    "every_503_explained",
    "lab_processes",
    "pods_up",
    "route_works",
]


class CheckFailed(LabError):
    """A check cell failed (raised only by ``Check.raise_if_failed``, e.g. in CI)."""


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``ok``, a one-line ``title``, a ``detail`` (what was seen) and, for a check
    that failed, its ``remedy``: the likely cause and the next step (a command, a parameter to change, a step
    to rerun), in the same language.

    ``lang`` is the language of the texts, used for the PASS/FAIL word and the remedy's label.
    """

    ok: bool
    title: str
    detail: str = ""
    lang: str = "en"
    remedy: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def seen(self) -> str:
        """The verdict line with what was seen, without the remedy."""
        verdict = t("notebook.check.pass", self.lang) if self.ok else t("notebook.check.fail", self.lang)
        line = t("notebook.check.line", self.lang, verdict=verdict, title=self.title)
        return line + (f" — {self.detail}" if self.detail else "")

    def __str__(self) -> str:
        if self.ok or not self.remedy:
            return self.seen()
        return f"{self.seen()}\n{t('notebook.check.remedy', self.lang, remedy=self.remedy)}"

    def _repr_html_(self) -> str:
        color, mark = ("#1a7f37", "✔") if self.ok else ("#cf222e", "✘")
        bg = "#dafbe1" if self.ok else "#ffebe9"
        detail = f"<div style='margin-top:2px'>{html.escape(self.detail)}</div>" if self.detail else ""
        remedy = ""
        if not self.ok and self.remedy:
            remedy = (f"<div class='lablib-remedy' style='margin-top:2px'>"
                      f"{html.escape(t('notebook.check.remedy', self.lang, remedy=self.remedy))}</div>")
        return (
            f"<div class='lablib-check' data-ok='{str(self.ok).lower()}' style='border-left:4px solid "
            f"{color};background:{bg};padding:4px 8px;margin:4px 0;font-family:sans-serif'>"
            f"<b style='color:{color}'>{mark} {html.escape(self.title)}</b>{detail}{remedy}</div>"
        )

    def raise_if_failed(self) -> Check:
        if not self.ok:
            raise CheckFailed(str(self))
        return self


def all_of(title: str, checks: Iterable[Check], *, lang: str = "en") -> Check:
    """One check that passes when every part passes; the detail lists the failing parts."""
    parts = list(checks)
    failed = [c for c in parts if not c.ok]
    detail = "; ".join(c.seen() for c in failed) if failed else "; ".join(c.title for c in parts)
    remedy = " ".join(dict.fromkeys(c.remedy for c in failed if c.remedy))
    return Check(not failed, title, detail, lang, remedy)


def pods_up(
    hosts: Sequence[Any], *, expected: int, cluster_hint: str = "service-go", lang: str = "en"
) -> Check:
    """Step 1: the client sidecar sees ``expected`` healthy service-go endpoints (``lab.hosts()``)."""
    mine = [h for h in hosts if cluster_hint in getattr(h, "cluster", "")]
    addresses = sorted({h.address for h in mine})
    healthy = sorted({h.address for h in mine if h.healthy})
    ok = len(addresses) >= expected and len(healthy) >= expected
    detail = t("notebook.check.pods_up.seen", lang, healthy=len(healthy), endpoints=len(addresses),
               addresses=", ".join(addresses) or t("notebook.check.none", lang))
    return Check(ok, t("notebook.check.pods_up.title", lang, expected=expected), detail, lang,
                 "" if ok else t("notebook.check.pods_up.remedy", lang, expected=expected))


def route_works(result: Any, *, lang: str = "en") -> Check:
    """Step 2: one request through the route rule answered 200 (``fortio load -curl``-like single call)."""
    codes = dict(getattr(result, "codes", {}) or {})
    ok = codes.get(200, 0) >= 1 and sum(v for k, v in codes.items() if k != 200) == 0
    return Check(ok, t("notebook.check.route_works.title", lang),
                 t("notebook.check.codes", lang, codes=codes), lang,
                 "" if ok else t("notebook.check.route_works.remedy", lang))


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


def _thresholds(proxy_config: str, cluster: str | None) -> dict[str, Any] | None:
    """The DEFAULT-priority circuit-breaker thresholds of ``cluster`` (snake_case keys), None if not found."""
    try:
        docs = _yamlio.load(proxy_config)
    except _yamlio.YAMLError:
        return None
    items = (
        docs if isinstance(docs, list) else (docs or {}).get("clusters", []) if isinstance(docs, dict) else []
    )
    for item in items:
        if not isinstance(item, dict) or (cluster is not None and item.get("name") != cluster):
            continue
        breakers = item.get("circuitBreakers") or item.get("circuit_breakers") or {}
        for entry in breakers.get("thresholds") or []:
            if str(entry.get("priority", "DEFAULT")) == "DEFAULT":
                return {_snake(k): v for k, v in entry.items()}
        return {}
    return None


def breaker_applied(
    proxy_config: str, *, expect: Mapping[str, int], cluster: str | None = None, lang: str = "en"
) -> Check:
    """Step 3: the client sidecar's cluster carries the DR's thresholds (``lab.proxy_config("cluster")``).

    ``expect`` maps Envoy threshold names (``max_connections``, ``max_pending_requests``, ``max_requests``) to
    values; the YAML may spell them in snake_case or camelCase (istioctl prints camelCase). ``cluster`` picks
    one cluster by name (default: the first one listed).
    """
    found = _thresholds(proxy_config, cluster)
    where = cluster or t("notebook.check.breaker_applied.first_cluster", lang)
    title = t("notebook.check.breaker_applied.title", lang)
    if found is None:
        return Check(False, title, t("notebook.check.breaker_applied.not_found", lang, cluster=where), lang,
                     t("notebook.check.breaker_applied.remedy_missing", lang))
    unset = t("notebook.check.unset", lang)
    wrong = [
        t("notebook.check.breaker_applied.want", lang, field=k, value=found.get(k, unset), want=v)
        for k, v in expect.items()
        if found.get(k) != v
    ]
    shown = ", ".join(f"{k}={v}" for k, v in expect.items())
    detail = (
        f"{where}: {shown}"
        if not wrong
        else t("notebook.check.breaker_applied.wrong", lang, cluster=where, wrong="; ".join(wrong))
    )
    remedy = t("notebook.check.breaker_applied.remedy_wrong", lang) if wrong else ""
    return Check(not wrong, title, detail, lang, remedy)


def breaker_trips(
    points: Iterable[RunPoint],
    limit: float,
    *,
    well_above: float = 1.5,
    well_below: float = 0.5,
    min_share: float = 0.02,
    lang: str = "en",
) -> Check:
    """Step 4: 503s appear well above the limit L and (almost) none well below it.

    "Well above" is c ≥ ``well_above``·L (needs a 503 share ≥ ``min_share``); "well below" is c ≤
    ``well_below``·L (needs no 503 at all). Percentages themselves vary run to run and are not checked; runs
    on a machine busy with other programs are named (``lablib.notebook.contention``).
    """
    pts = list(points)
    above = [p for p in pts if p.concurrency >= well_above * limit]
    below = [p for p in pts if p.concurrency <= well_below * limit]
    bad_above = [p for p in above if p.share_503 < min_share]
    bad_below = [p for p in below if p.result.codes.get(503, 0) > 0]
    if not above:
        return Check(
            False,
            t("notebook.check.breaker_trips.none_title", lang, limit=limit),
            t("notebook.check.breaker_trips.none", lang, c=well_above * limit),
            lang,
            t("notebook.check.breaker_trips.remedy_none", lang, c=math.ceil(well_above * limit)),
        )
    ok = not bad_above and not bad_below
    parts = [
        t("notebook.check.breaker_trips.above", lang, runs=len(above), c=well_above * limit)
        + ", ".join(f"c={p.concurrency}: {100 * p.share_503:.0f}%" for p in above)
    ]
    if below:
        parts.append(
            t("notebook.check.breaker_trips.below", lang, runs=len(below), c=well_below * limit)
            + ", ".join(f"c={p.concurrency}: {p.result.codes.get(503, 0)}×503" for p in below)
        )
    remedies = []
    if bad_above:
        parts.append(t("notebook.check.breaker_trips.too_few", lang))
        remedies.append(t("notebook.check.breaker_trips.remedy_few", lang))
    if bad_below:
        parts.append(t("notebook.check.breaker_trips.too_many", lang))
        remedies.append(t("notebook.check.breaker_trips.remedy_many", lang))
    busy = contention.note(pts, lang=lang)  # a busy machine moves the shares: say so, whatever the verdict
    if busy:
        parts.append(busy)
    return Check(ok, t("notebook.check.breaker_trips.title", lang, limit=limit), "; ".join(parts), lang,
                 " ".join(remedies))


def every_503_explained(points: Iterable[RunPoint], *, slack: int = 0, lang: str = "en") -> Check:
    """Every 503 fortio saw is counted by an Envoy overflow counter (pending or active overflow)."""
    pts = [p for p in points if p.overflows]
    bad = [p for p in pts if p.result.codes.get(503, 0) > p.explained_503 + slack]
    total = sum(p.result.codes.get(503, 0) for p in pts)
    explained = sum(min(p.explained_503, p.result.codes.get(503, 0)) for p in pts)
    detail = t("notebook.check.every_503.matched", lang, explained=explained, total=total)
    if bad:
        detail += t("notebook.check.every_503.unexplained", lang) + ", ".join(
            f"{p.label} c={p.concurrency}" for p in bad
        )
    remedy = (t("notebook.check.every_503.remedy_none", lang) if not pts
              else t("notebook.check.every_503.remedy", lang) if bad else "")
    return Check(bool(pts) and not bad, t("notebook.check.every_503.title", lang), detail, lang, remedy)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE  # a zombie holds no port and no CPU
    except psutil.Error:
        return False


def lab_processes(
    *,
    marker: str | None = None,
    children_of: int | None = None,
    names: Sequence[str] = ("envoy", "service_go"),
) -> dict[int, str]:
    """Live processes whose command line mentions one of ``names`` (psutil).

    ``marker`` (``NAME=value``) keeps only processes whose environment holds it (children inherit the
    environment, so a test can tell its own lab's processes from anyone else's); ``children_of`` keeps only
    descendants of that pid (e.g. the notebook kernel's own lab).
    """
    if children_of is not None:
        try:
            candidates = psutil.Process(children_of).children(recursive=True)
        except psutil.Error:
            return {}
    else:
        candidates = list(psutil.process_iter())
    key, _, value = (marker or "").partition("=")
    found: dict[int, str] = {}
    me = os.getpid()
    for proc in candidates:
        try:
            if proc.pid == me:
                continue
            cmd = " ".join(proc.cmdline()).strip()
            if not cmd or not any(n in cmd for n in names) or not _alive(proc):
                continue
            if marker is not None and proc.environ().get(key) != value:
                continue
        except psutil.Error:  # gone, or not ours to read
            continue
        found[proc.pid] = cmd
    return found


def cleaned_up(
    before: Mapping[int, str] | None = None,
    *,
    marker: str | None = None,
    children_of: int | None = None,
    lang: str = "en",
) -> Check:
    """Step 5: no Envoy or service-go process of this lab is still running.

    By default "this lab" means the processes this Python process started (its descendants); ``before`` (a
    ``lab_processes()`` snapshot) instead flags every such process that appeared since.
    """
    if before is None and marker is None and children_of is None:
        children_of = os.getpid()
    now = lab_processes(marker=marker, children_of=children_of)
    left = {pid: cmd for pid, cmd in now.items() if before is None or pid not in before}
    detail = (
        t("notebook.check.cleaned_up.none_left", lang)
        if not left
        else t("notebook.check.cleaned_up.running", lang)
        + "; ".join(f"pid {pid}: {cmd[:80]}" for pid, cmd in sorted(left.items()))
    )
    return Check(not left, t("notebook.check.cleaned_up.title", lang), detail, lang,
                 t("notebook.check.cleaned_up.remedy", lang) if left else "")
