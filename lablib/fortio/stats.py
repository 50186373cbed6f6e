"""fortio's statistics, restated: Counter, Histogram, HistogramData export and percentiles.

The leaf of the package (standard library only), like fortio's ``stats/`` package: the runner records
into it, the report prints it, the reader rebuilds it. Every rule here is fortio's
(``stats/stats.go``): bucket boundaries in units of the divider, left-open right-closed buckets,
export of the non-empty buckets with ``Min``/``Max`` as outer edges, linear interpolation of
percentiles inside a bucket, population standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from lablib.i18n import Msg

__all__ = [
    "BUCKET_VALUES",
    "DEFAULT_PERCENTILES",
    "Counter",
    "Histogram",
    "calc_percentile",
    "calc_percentiles",
    "go_duration",
    "go_g",
    "parse_percentiles",
]

#: Bucket upper boundaries in units of the divider (fortio ``histogramBucketValues``).
BUCKET_VALUES: tuple[int, ...] = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
    12, 14, 16, 18, 20,
    25, 30, 35, 40, 45, 50,
    60, 70, 80, 90, 100,
    120, 140, 160, 180, 200,
    250, 300, 350, 400, 450, 500,
    600, 700, 800, 900, 1000,
    2000, 3000, 4000, 5000, 7500, 10000,
    20000, 30000, 40000, 50000, 75000, 100000,
)  # fmt: skip
_NUM_VALUES = len(BUCKET_VALUES)
#: One bucket for values <= 0, one per boundary, one for values > the last boundary.
NUM_BUCKETS = _NUM_VALUES + 1
_FIRST = float(BUCKET_VALUES[0])
_LAST = float(BUCKET_VALUES[-1])
_MAX_ARRAY_VALUE = 1000  # fortio keeps a direct lookup table up to this scaled value
_MAX_ARRAY_INDEX = BUCKET_VALUES.index(_MAX_ARRAY_VALUE)

#: ``-p`` default of the fortio CLI.
DEFAULT_PERCENTILES: tuple[float, ...] = (50.0, 75.0, 90.0, 99.0, 99.9)


def _build_val2bucket() -> list[int]:
    table = []
    idx = 0
    for i in range(_MAX_ARRAY_VALUE):
        if i >= BUCKET_VALUES[idx]:
            idx += 1
        table.append(idx)
    return table


_VAL2BUCKET = _build_val2bucket()


def bucket_index(scaled: float) -> int:
    """Index of the bucket for a value already scaled as ``(v - offset) / divider`` (fortio ``record``)."""
    if scaled <= _FIRST:
        return 0
    if scaled > _LAST:
        return NUM_BUCKETS - 1
    sv = int(scaled)
    if scaled - sv < 1e-12:  # exactly on a boundary: left-open interval, so the lower bucket
        sv -= 1
    if sv < 0:  # (0, 1e-12] scaled; fortio would index -1, the first real bucket is meant
        return 1
    if sv < _MAX_ARRAY_VALUE:
        return _VAL2BUCKET[sv]
    for i in range(_MAX_ARRAY_INDEX, _NUM_VALUES):
        if BUCKET_VALUES[i] > sv:
            return i
    return NUM_BUCKETS - 1  # not reached


class Counter:
    """Count, min, max, sum and sum of squares (fortio ``stats.Counter``)."""

    __slots__ = ("count", "max", "min", "sum", "sum_sq")

    def __init__(self) -> None:
        self.count = 0
        self.min = 0.0
        self.max = 0.0
        self.sum = 0.0
        self.sum_sq = 0.0

    def record(self, v: float, n: int = 1) -> None:
        """Record ``v`` ``n`` times."""
        if self.count == 0:
            self.min = v
            self.max = v
        elif v < self.min:
            self.min = v
        elif v > self.max:
            self.max = v
        self.count += n
        self.sum += v * n
        self.sum_sq += v * v * n

    @property
    def avg(self) -> float:
        """Sum / Count (0 when empty)."""
        return self.sum / self.count if self.count else 0.0

    @property
    def stddev(self) -> float:
        """Population standard deviation, ``sqrt((Σv² − (Σv)²/n)/n)``, as fortio computes it."""
        if self.count == 0:
            return 0.0
        n = float(self.count)
        sigma = (self.sum_sq - self.sum * self.sum / n) / n
        return math.sqrt(sigma) if sigma > 0 else 0.0

    def transfer(self, src: Counter) -> None:
        """Add ``src``'s data to this counter (fortio ``Counter.Transfer``, without clearing src)."""
        if src.count == 0:
            return
        if self.count == 0:
            self.min, self.max = src.min, src.max
        else:
            self.min = min(self.min, src.min)
            self.max = max(self.max, src.max)
        self.count += src.count
        self.sum += src.sum
        self.sum_sq += src.sum_sq

    def line(self, msg: str) -> str:
        """fortio's ``Counter.Print`` line: ``msg : count N avg … +/- … min … max … sum …``."""
        return (
            f"{msg} : count {self.count} avg {go_g(self.avg, 8)} +/- {go_g(self.stddev, 4)} "
            f"min {go_g(self.min)} max {go_g(self.max)} sum {go_g(self.sum, 9)}"
        )

    def to_state(self) -> list[float]:
        """Plain data for sending across processes."""
        return [self.count, self.min, self.max, self.sum, self.sum_sq]

    @classmethod
    def from_state(cls, state: Sequence[float]) -> Counter:
        c = cls()
        c.count, c.min, c.max, c.sum, c.sum_sq = int(state[0]), state[1], state[2], state[3], state[4]
        return c


class Histogram(Counter):
    """A Counter plus fortio's buckets; ``offset`` and ``divider`` are in the values' unit (s for times)."""

    __slots__ = ("counts", "divider", "offset")

    def __init__(self, offset: float = 0.0, divider: float = 0.001) -> None:
        if divider == 0:
            raise ValueError("histogram divider can't be 0")
        super().__init__()
        self.offset = offset
        self.divider = divider
        self.counts = [0] * NUM_BUCKETS

    def record(self, v: float, n: int = 1) -> None:
        """Record ``v`` ``n`` times into the counter and its bucket."""
        # Counter.record inlined: this runs once per call of a load run
        if self.count == 0:
            self.min = v
            self.max = v
        elif v < self.min:
            self.min = v
        elif v > self.max:
            self.max = v
        self.count += n
        self.sum += v * n
        self.sum_sq += v * v * n
        self.counts[bucket_index((v - self.offset) / self.divider)] += n

    def transfer(self, src: Counter) -> None:
        """Merge ``src`` (same offset and divider) by adding bucket counts (fortio ``Histogram.Transfer``)."""
        if not isinstance(src, Histogram):
            raise TypeError("can only merge a Histogram")
        if (src.offset, src.divider) != (self.offset, self.divider):
            raise ValueError("histograms to merge must have the same offset and divider")
        Counter.transfer(self, src)
        self.counts = [a + b for a, b in zip(self.counts, src.counts, strict=True)]

    def export(self, percentiles: Iterable[float] | None = None) -> dict[str, Any]:
        """fortio's ``HistogramData`` as a dict in fortio's key order.

        ``Data`` is ``None`` when empty (Go's nil slice); ``Percentiles`` only when asked for and count > 0.
        """
        data: list[dict[str, Any]] | None = None
        last_idx = max((i for i, c in enumerate(self.counts) if c), default=-1)
        if last_idx >= 0:
            data = []
            prev = BUCKET_VALUES[0]
            total = 0
            for i in range(last_idx + 1):
                c = self.counts[i]
                if c == 0:
                    if i < _NUM_VALUES:
                        prev = BUCKET_VALUES[i]
                    continue
                total += c
                start = self.min if not data else self.divider * float(prev) + self.offset
                if i < _NUM_VALUES:
                    cur = BUCKET_VALUES[i]
                    end = self.divider * float(cur) + self.offset
                    prev = cur
                else:
                    start = self.divider * float(prev) + self.offset
                    end = self.max
                data.append({"Start": start, "End": end, "Percent": 100.0 * total / self.count, "Count": c})
            data[-1]["End"] = self.max
        res: dict[str, Any] = {
            "Count": self.count,
            "Min": self.min,
            "Max": self.max,
            "Sum": self.sum,
            "Avg": self.avg,
            "StdDev": self.stddev,
            "Data": data,
        }
        if percentiles is not None and self.count > 0:
            res["Percentiles"] = calc_percentiles(res, percentiles)
        return res

    def to_state(self) -> list[Any]:  # type: ignore[override]
        return [*Counter.to_state(self), self.offset, self.divider, self.counts]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> Histogram:  # type: ignore[override]
        h = cls(state[5], state[6])
        h.count, h.min, h.max, h.sum, h.sum_sq = int(state[0]), state[1], state[2], state[3], state[4]
        h.counts = list(state[7])
        return h


def calc_percentile(hdata: dict[str, Any], p: float) -> float:
    """fortio ``CalcPercentile``: linear interpolation in the first bucket whose cumulative % reaches p."""
    data = hdata.get("Data") or []
    if not data:
        return 0.0
    if p >= 100:
        return hdata["Max"]
    pp = 100.0 / float(hdata["Count"])  # Min alone accounts for one sample
    if p <= pp:
        return hdata["Min"]
    for b in data:
        if p <= b["Percent"]:
            return b["Start"] + (p - pp) / (b["Percent"] - pp) * (b["End"] - b["Start"])
        pp = b["Percent"]
    return hdata["Max"]


def calc_percentiles(hdata: dict[str, Any], percentiles: Iterable[float]) -> list[dict[str, float]]:
    """``[{"Percentile": p, "Value": v}, …]`` in the order asked."""
    return [{"Percentile": p, "Value": calc_percentile(hdata, p)} for p in percentiles]


def parse_percentiles(text: str) -> list[float]:
    """Parse fortio's ``-p`` value (``"50,75,90,99,99.9"``); each must be strictly between 0 and 100."""
    res = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            p = float(part)
        except ValueError:
            raise ValueError(Msg("fortio.stats.bad_percentile", part=repr(part))) from None
        if not 0 < p < 100:
            raise ValueError(Msg("fortio.stats.percentile_range", p=go_g(p)))
        res.append(p)
    if not res:
        raise ValueError(Msg("fortio.stats.empty_percentiles"))
    return res


# ---- Go formatting, so the text summary matches fortio's byte for byte ----


def shortest_digits(x: float) -> tuple[str, str, int]:
    """(sign, significant digits, decimal point position) of the shortest round-trip form of ``x != 0``.

    ``0.00123`` -> ``("", "123", -2)``; ``1500.0`` -> ``("", "15", 4)``. Python's ``repr`` and Go's
    ``strconv`` both produce the shortest digits that read back to the same double.
    """
    r = repr(float(x))
    sign = "-" if r.startswith("-") else ""
    mant, _, exp_s = r.lstrip("-").partition("e")
    int_part, _, frac = mant.partition(".")
    if frac == "0":
        frac = ""
    exp10 = int(exp_s) if exp_s else 0
    dp = len(int_part) + exp10 if int_part != "0" else exp10 - (len(frac) - len(frac.lstrip("0")))
    digits = (int_part + frac).lstrip("0").rstrip("0") or "0"
    return sign, digits, dp


def go_g(x: float, prec: int | None = None) -> str:
    """Go's ``%g`` (shortest round-trip digits) or ``%.<prec>g`` (same as C)."""
    if prec is not None:
        return f"{x:.{prec}g}"
    if isinstance(x, int):
        x = float(x)
    if x == 0:
        return "0" if math.copysign(1, x) > 0 else "-0"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    sign, digits, dp = shortest_digits(x)
    exp = dp - 1
    if exp < -4 or exp >= 6:  # Go: shortest %g switches to %e below 1e-4 and from 1e6
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return f"{sign}{digits}{'0' * (dp - len(digits))}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for a duration in nanoseconds (``51.9946ms``, ``1m0s``, ``5s``)."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    sign = "-" if neg else ""
    if u < 1_000_000_000:
        for unit, scale in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if u < scale * 1000:
                whole, frac = divmod(u, scale)
                width = len(str(scale)) - 1
                text = str(whole)
                if frac and width:
                    text += "." + f"{frac:0{width}d}".rstrip("0")
                return f"{sign}{text}{unit}"
    secs, frac = divmod(u, 1_000_000_000)
    text = ""
    frac_s = f"{frac:09d}".rstrip("0")
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    s_text = str(s) + ("." + frac_s if frac_s else "") + "s"
    if h:
        text = f"{h}h{m}m{s_text}"
    elif m:
        text = f"{m}m{s_text}"
    else:
        text = s_text
    return sign + text
