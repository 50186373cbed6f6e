"""The recent runs of a backend's ``fortio()``, kept so that ``explain(result)`` finds the run that returned
``result`` (every backend records what it needs to explain a run: when it ran, the counters around it)."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from lablib._exceptions import LabError
from lablib.i18n import Msg

__all__ = ["RunLog"]

R = TypeVar("R")


class RunLog(Generic[R]):
    """The last ``keep`` runs by the result object each returned, and the very last one.

    Thread-safe: ``Lab.fortio_many`` runs several ``fortio()`` calls at once.
    """

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self.last: R | None = None
        self._runs: dict[int, tuple[object, R]] = {}  # id(result) -> (result, run); the result keeps its id
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._runs)

    def record(self, result: object, run: R) -> None:
        """Remember ``run`` as the one that returned ``result``; forget the oldest beyond ``keep``."""
        with self._lock:
            self.last = run
            self._runs[id(result)] = (result, run)
            while len(self._runs) > self.keep:  # the recent runs stay explainable, not every run of a session
                del self._runs[next(iter(self._runs))]

    def find(self, result: object | None = None) -> R:
        """The run that returned ``result`` (None: the last run). LabError when nothing ran yet, or when
        ``result`` did not come from this backend (or is older than the last ``keep`` runs)."""
        with self._lock:
            if result is None:
                if self.last is None:
                    raise LabError(Msg("backends.explain.nothing"))
                return self.last
            found = self._runs.get(id(result))
        if found is None or found[0] is not result:
            raise LabError(Msg("backends.explain.foreign_result"))
        return found[1]

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
            self.last = None
