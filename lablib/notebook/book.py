"""The book's three load runs (《Istio 入门与实战》, circuit breaking, step 4), as fortio printed them.

Kept verbatim (fortio 1.0.1, Istio 1.0.3) so the notebook can put the book's numbers next to ours, parsed by
the same reader as our own runs (``lablib.fortio.read_result``).
"""

from __future__ import annotations

from lablib.i18n import LANGS, t
from lablib.lab_defaults import MANIFESTS, PUBLISHED
from lablib.notebook.runs import RunPoint

__all__ = ["BOOK_LABEL", "BOOK_RUNS", "MANIFESTS", "book_label", "book_points", "is_book"]


def book_label(lang: str = "en") -> str:
    """The label of the book's runs in plots and tables, in ``lang``."""
    return t("notebook.book.label", lang)


BOOK_LABEL = book_label("en")


def is_book(label: str) -> bool:
    """Whether a run label is the book's (in any language): plots draw those grey, as diamonds."""
    return label.startswith("book") or label in {book_label(lang) for lang in LANGS}


#: ``fortio load -c C -qps 0 -n 10*C -loglevel Error http://service-go/env`` output, by concurrency: the
#: seed's printed runs, kept as fortio wrote them in ``lablib/published/`` (lab 04 reads the same files).
BOOK_RUNS: dict[int, str] = {
    c: (PUBLISHED / f"seed-fortio-1.0.1-c{c}-n{10 * c}.txt").read_text(encoding="utf-8") for c in (20, 30, 40)
}


def book_points(*, lang: str = "en") -> list[RunPoint]:
    """The book's runs as ``RunPoint``s (no counters: the book printed none), labelled in ``lang``."""
    from lablib.fortio import read_result

    label = book_label(lang)
    return [RunPoint(label, c, read_result(text)) for c, text in sorted(BOOK_RUNS.items())]
