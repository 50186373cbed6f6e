"""The book's three load runs (《Istio 入门与实战》, circuit breaking, step 4), as fortio printed them.

Kept verbatim (fortio 1.0.1, Istio 1.0.3) so the notebook can put the book's numbers next to ours, parsed by
the same reader as our own runs (``lablib.fortio.read_result``).
"""

# ruff: noqa: E501  (fortio's output is kept verbatim, long lines included)

from __future__ import annotations

from pathlib import Path

from lablib.i18n import LANGS, t
from lablib.viz.runs import RunPoint

__all__ = ["BOOK_LABEL", "BOOK_RUNS", "MANIFESTS", "book_label", "book_points", "is_book"]

#: The book's manifests in this repository's layout (kubernetes/, service/go/, istio/route/, istio/resilience/).
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"



def book_label(lang: str = "en") -> str:
    """The label of the book's runs in plots and tables, in ``lang``."""
    return t("viz.book.label", lang)


BOOK_LABEL = book_label("en")


def is_book(label: str) -> bool:
    """Whether a run label is the book's (in any language): plots draw those grey, as diamonds."""
    return label.startswith("book") or label in {book_label(lang) for lang in LANGS}

#: ``fortio load -c C -qps 0 -n 10*C -loglevel Error http://service-go/env`` output, by concurrency.
BOOK_RUNS: dict[int, str] = {
    20: """\
Fortio 1.0.1 running at 0 queries per second, 1->1 procs, for 200 calls: http://service-go/env
Aggregated Function Time : count 200 avg 0.030616202 +/- 0.02123 min 0.0027694 max 0.114223187 sum 6.1232405
# target 50% 0.025
# target 75% 0.0379167
# target 90% 0.0583333
# target 99% 0.1
# target 99.9% 0.112801
Sockets used: 28 (for perfect keepalive, would be 20)
Code 200 : 192 (96.0 %)
Code 503 : 8 (4.0 %)
All done 200 calls (plus 0 warmup) 30.616 ms avg, 482.7 qps
""",
    30: """\
Fortio 1.0.1 running at 0 queries per second, 1->1 procs, for 300 calls: http://service-go/env
Aggregated Function Time : count 300 avg 0.024973717 +/- 0.02297 min 0.000371422 max 0.132712986 sum 7.49211507
# target 50% 0.0174667
# target 75% 0.0278378
# target 90% 0.0536364
# target 99% 0.125085
# target 99.9% 0.13195
Sockets used: 121 (for perfect keepalive, would be 30)
Code 200 : 204 (68.0 %)
Code 503 : 96 (32.0 %)
All done 300 calls (plus 0 warmup) 24.974 ms avg, 929.3 qps
""",
    40: """\
Fortio 1.0.1 running at 0 queries per second, 1->1 procs, for 400 calls: http://service-go/env
Aggregated Function Time : count 400 avg 0.027188206 +/- 0.03239 min 0.00108232 max 0.23720534 sum 10.8752825
# target 50% 0.0189677
# target 75% 0.03
# target 90% 0.0403846
# target 99% 0.215945
# target 99.9% 0.235079
Sockets used: 183 (for perfect keepalive, would be 40)
Code 200 : 240 (60.0 %)
Code 503 : 160 (40.0 %)
All done 400 calls (plus 0 warmup) 27.188 ms avg, 950.4 qps
""",
}


def book_points(*, lang: str = "en") -> list[RunPoint]:
    """The book's runs as ``RunPoint``s (no counters: the book printed none), labelled in ``lang``."""
    from lablib.fortio import read_result

    label = book_label(lang)
    return [RunPoint(label, c, read_result(text)) for c, text in sorted(BOOK_RUNS.items())]
