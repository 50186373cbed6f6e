"""Lab 04: the published circuit-breaking runs replayed under their environment, next to what was published.

``replay`` runs fortio as a publication did (``presets.Environment``: its flags, its client CPUs) at
each ``-c``; ``comparison`` puts the means next to the published shares (read from the real fortio outputs
in ``lablib/published/`` where there is one); ``sensitivity`` shows each environment factor's measured effect
from ``lablib/published/measured-fidelity.yaml``, which ``python -m bench.bench_fidelity --record`` writes
(the numbers of docs/reference/measured-envoy-1.40.md). The checks are robust properties, never a match to a
published percentage.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from lablib import _yamlio
from lablib._exceptions import LabError
from lablib.i18n import Msg, t
from lablib.labs.reproducing_published_runs.client_cpu import fortio_in
from lablib.labs.reproducing_published_runs.presets import PUBLISHED_DIR, Environment
from lablib.notebook.checks import Check
from lablib.notebook.runs import SERVICE_CLUSTER
from lablib.notebook.tables import HTML

__all__ = ["MEASURED_FILE", "Replay", "comparison", "measured", "mtls_handshakes", "no_503_at_one_thread",
           "published", "replay", "rises_with_concurrency", "sensitivity"]

#: Every factor's measured effect (bench/bench_fidelity.py --record), shipped with the package.
MEASURED_FILE: Final = PUBLISHED_DIR / "measured-fidelity.yaml"
_CELL = "padding:2px 8px;border:1px solid #ddd;text-align:right"


@dataclass(frozen=True)
class Replay:
    """The 503 shares of ``runs`` fortio runs at each ``-c`` under ``env``."""

    env: Environment
    shares: dict[int, tuple[float, ...]] = field(default_factory=dict)

    def mean(self, c: int) -> float:
        return statistics.fmean(self.shares[c])


def replay(lab: Any, env: Environment, concurrencies: Sequence[int], *, runs: int = 1) -> Replay:
    """Run ``env``'s fortio command ``runs`` times at each ``-c`` on a lab started with
    ``env.lab_options()`` and the rule applied."""
    if runs < 1:
        raise LabError(Msg("reproduce.runs", runs=runs))
    shares = {c: tuple(fortio_in(lab, env, c).share(503) for _ in range(runs)) for c in concurrencies}
    return Replay(env, shares)


def published(env: Environment) -> dict[int, float]:
    """The published 503 share at each ``-c``: from the real fortio output where one is shipped."""
    from lablib.fortio import read_result

    out = dict(env.published)
    for c in env.published_files:
        out[c] = read_result(env.published_file(c)).share(503)
    return out


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], css: str) -> HTML:
    th = "".join(f"<th style='{_CELL};background:#f6f8fa'>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(v)}</td>" for v in r) + "</tr>"
                   for r in rows)
    text = "\n".join(" | ".join(r) for r in [head, *rows])
    return HTML(f"<table class='{css}' style='border-collapse:collapse'><tr>{th}</tr>{body}</table>", text)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def comparison(run: Replay, *, lang: str = "en") -> HTML:
    """One row per ``-c``: the published share, ours (mean [min–max] ×runs) and the difference in points."""
    pub = published(run.env)
    head = ["c", t("lab04.table.published", lang), t("lab04.table.ours", lang, env=run.env.name),
            t("lab04.table.gap", lang)]
    rows = []
    for c, shares in sorted(run.shares.items()):
        ours = f"{100 * run.mean(c):.1f}% [{100 * min(shares):.0f}–{100 * max(shares):.0f}] ×{len(shares)}"
        gap = f"{100 * (run.mean(c) - pub[c]):+.1f}" if c in pub else "–"
        rows.append([str(c), _pct(pub.get(c)), ours, gap])
    return _table(head, rows, "lablib-reproduce")


def measured(path: Path = MEASURED_FILE) -> dict[str, Any]:
    """The recorded bench numbers (``experiment -> rows``); LabError if the file is missing or damaged."""
    try:
        data = _yamlio.load(path.read_text(encoding="utf-8"))
    except (OSError, _yamlio.YAMLError) as exc:
        raise LabError(Msg("reproduce.measured_unreadable", path=str(path), error=str(exc))) from None
    if not isinstance(data, dict) or (not data.get("task") and not data.get("book")):
        raise LabError(Msg("reproduce.measured_empty", path=str(path)))
    return data


def sensitivity(experiment: str, c: int, *, data: Mapping[str, Any] | None = None, lang: str = "en") -> HTML:
    """Each environment factor's measured effect on the 503 share at ``-c c``: one row per bench variant,
    its mean [min–max] and its difference from the preset (the first row, measured in the same session)."""
    data = data if data is not None else measured()
    rows_in = data.get(experiment) or []
    if not rows_in:
        raise LabError(Msg("reproduce.no_rows", experiment=experiment, known=[k for k in data if data[k]]))
    base = statistics.fmean(rows_in[0]["shares"][c])
    head = [t("lab04.table.factor", lang), t("lab04.table.share_at", lang, c=c),
            t("lab04.table.effect", lang), t("lab04.table.hold_reject", lang)]
    rows = []
    for row in rows_in:
        shares = row["shares"][c]
        mean = statistics.fmean(shares)
        hold = statistics.fmean(row["hold_ms"][c])
        reject = statistics.fmean(row["reject_ms"][c])
        rows.append([row["label"], f"{100 * mean:.1f}% [{100 * min(shares):.0f}–{100 * max(shares):.0f}] "
                     f"×{len(shares)}", f"{100 * (mean - base):+.1f}", f"{hold:.1f} / {reject:.1f} ms"])
    return _table(head, rows, "lablib-sensitivity")


def no_503_at_one_thread(run: Replay, *, lang: str = "en") -> Check:
    """With one fortio thread one request at a time is in flight: no breaker trips (c = 1 runs)."""
    shares = run.shares.get(1)
    if not shares:
        return Check(False, t("lab04.check.c1.title", lang), t("lab04.check.c1.missing", lang), lang,
                     t("lab04.check.remedy.c1_missing", lang))
    ok = all(s == 0 for s in shares)
    return Check(ok, t("lab04.check.c1.title", lang),
                 t("lab04.check.c1.seen", lang, shares=", ".join(f"{100 * s:.0f}%" for s in shares)), lang,
                 "" if ok else t("lab04.check.remedy.c1", lang))


def rises_with_concurrency(run: Replay, *, lang: str = "en") -> Check:
    """The 503 share grows from the lowest to the highest ``-c`` (the breaker's limit is fixed)."""
    cs = sorted(run.shares)
    title = t("lab04.check.rises.title", lang, env=run.env.name)
    if len(cs) < 2:
        return Check(False, title, t("lab04.check.rises.missing", lang), lang,
                     t("lab04.check.remedy.rises_missing", lang))
    seen = ", ".join(f"c={c}: {100 * run.mean(c):.0f}%" for c in cs)
    ok = run.mean(cs[-1]) > run.mean(cs[0])
    return Check(ok, title, seen, lang, "" if ok else t("lab04.check.remedy.rises", lang))


def mtls_handshakes(lab: Any, cluster: str = SERVICE_CLUSTER, *,
                    lang: str = "en") -> Check:
    """Istio's auto mTLS ran: the client sidecar's cluster counted TLS handshakes (``ssl.handshake``)."""
    count = lab.stats(cluster).get("ssl.handshake")
    return Check(count > 0, t("lab04.check.mtls.title", lang), t("lab04.check.mtls.seen", lang, count=count),
                 lang, "" if count > 0 else t("lab04.check.remedy.mtls", lang))
