"""Benchmark of ``lablib.manifests.validate_files``: time and peak memory for a 1 MiB manifest, as ratios
against the book's DestinationRule (manifests/istio/resilience/destination-rule-go-cb.yaml) validated in the
same run.

The 1 MiB file is the largest the lab reads (``_limits.MAX_FILE_BYTES``): DestinationRules like the book's,
one per host, each with a connectionPool, an outlierDetection and two subsets, until the file is just under
the cap. Peak memory is Python's (tracemalloc) during one validation; time is the best of a few runs (the
machine is shared), so the ratios say how validation scales with input, not how fast this machine is.

``python -m bench validate`` (or ``python bench/bench_validate.py``). Env: ``BENCH_VALIDATE_RUNS`` (default
3).
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from lablib.manifests import validate_files
from lablib.manifests._limits import MAX_FILE_BYTES

REPO = Path(__file__).resolve().parents[1]
BOOK_DR = REPO / "manifests" / "istio" / "resilience" / "destination-rule-go-cb.yaml"
RUNS = int(os.environ.get("BENCH_VALIDATE_RUNS", "3"))


def big_manifest(limit: int = MAX_FILE_BYTES) -> tuple[str, int]:
    """(YAML text just under ``limit`` bytes, number of objects): the book's rule, once per host."""
    book = BOOK_DR.read_text(encoding="utf-8")
    body = book[book.index("apiVersion:") :].replace("consecutiveErrors: 3", "consecutive5xxErrors: 3")
    docs: list[str] = []
    size = 0
    while True:
        i = len(docs)
        doc = body.replace("name: service-go", f"name: service-go-{i}").replace(
            "host: service-go", f"host: service-go-{i}"
        )
        if size + len(doc) + 4 > limit:
            return "---\n".join(docs), len(docs)
        docs.append(doc)
        size += len(doc) + 4


def measure(path: Path) -> tuple[float, int, int]:
    """(best seconds, peak bytes, problems) of validating ``path``."""
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        problems = validate_files([path])
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    validate_files([path])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak, len(problems)


def main() -> int:
    text, objects = big_manifest()
    with tempfile.TemporaryDirectory(prefix="lablib-bench-") as tmp:
        big = Path(tmp) / "one-mib.yaml"
        big.write_text(text, encoding="utf-8")
        size = big.stat().st_size
        measure(BOOK_DR)  # imports and first-call caches out of the measurement
        book_s, book_peak, book_problems = measure(BOOK_DR)
        big_s, big_peak, big_problems = measure(big)
    book_size = BOOK_DR.stat().st_size
    print(f"-- validate_files, best of {RUNS}; peak = tracemalloc during one run")
    print(f"{'input':<34} {'bytes':>9} {'objects':>8} {'problems':>9} {'seconds':>9} {'peak MiB':>9}")
    print(f"{'book DR (destination-rule-go-cb)':<34} {book_size:>9} {1:>8} {book_problems:>9} "
          f"{book_s:>9.4f} {book_peak / 2**20:>9.2f}")
    print(f"{'1 MiB of DestinationRules':<34} {size:>9} {objects:>8} {big_problems:>9} "
          f"{big_s:>9.3f} {big_peak / 2**20:>9.2f}")
    per_byte = (big_s / size) / (book_s / book_size)
    print(f"ratio 1 MiB / book DR: size {size / book_size:.0f}x, time {big_s / book_s:.0f}x, "
          f"peak memory {big_peak / book_peak:.0f}x; per byte {per_byte:.2f}x the book DR's (1: linear)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
