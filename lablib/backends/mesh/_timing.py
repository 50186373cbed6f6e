"""An opt-in timing log of the embedded mesh: with ``$LABLIB_TIMING_LOG`` set to a file, one JSON line per
fortio run and per step of starting the lab or applying a file (``what``, ``start``, ``end`` in epoch
seconds, and a few fields). ``bench/bench_notebook.py`` reads it to tell a notebook's time inside fortio from
the time spent around it; unset (the default), nothing is written and nothing is measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["ENV", "span"]

#: The variable naming the log file (appended to, one line per span; lines from threads do not interleave).
ENV = "LABLIB_TIMING_LOG"


@contextlib.contextmanager
def span(what: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Time the body as ``what``; the yielded dict takes more fields (e.g. a result's duration)."""
    path = os.environ.get(ENV)
    record: dict[str, Any] = dict(fields)
    if not path:
        yield record
        return
    start = time.time()
    try:
        yield record
    finally:
        record.update(what=what, start=start, end=time.time())
        line = (json.dumps(record, default=str) + "\n").encode()
        with contextlib.suppress(OSError):  # a timing log never breaks the lab
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)  # one write with O_APPEND: whole lines, whatever the threads
            finally:
                os.close(fd)
