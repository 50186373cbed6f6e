"""fortio's histogram, restated: boundaries, export edges, percentiles, Go number formatting."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lablib.fortio.reader import read_result
from lablib.fortio.report import histogram_lines
from lablib.fortio.results import go_json, go_json_float
from lablib.fortio.stats import (
    BUCKET_VALUES,
    Counter,
    Histogram,
    bucket_index,
    calc_percentile,
    calc_percentiles,
    go_duration,
    go_g,
    parse_percentiles,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_bucket_boundaries_are_fortios_56_values():
    assert len(BUCKET_VALUES) == 56
    assert BUCKET_VALUES[:13] == (*range(13),)
    assert BUCKET_VALUES[-6:] == (20000, 30000, 40000, 50000, 75000, 100000)


@pytest.mark.parametrize(
    ("scaled", "bucket_upper"),
    [
        (0.0, 0),  # <= 0 is bucket 0
        (-3.0, 0),
        (0.5, 1),
        (1.0, 1),  # exactly on a boundary: left-open, right-closed, so the lower bucket
        (1.0000001, 2),
        (11.0, 11),
        (12.0, 12),
        (12.5, 14),
        (14.0, 14),
        (999.5, 1000),
        (1000.0, 1000),
        (1500.0, 2000),
        (100000.0, 100000),
    ],
)
def test_left_open_right_closed_buckets(scaled, bucket_upper):
    assert BUCKET_VALUES[bucket_index(scaled)] == bucket_upper


def test_values_above_the_last_boundary_go_to_the_extra_bucket():
    assert bucket_index(100000.5) == len(BUCKET_VALUES)


def test_record_uses_offset_and_divider_and_float_edges_like_go():
    h = Histogram(0.0, 0.001)
    for v in (0.0085, 0.0089, 0.0095):
        h.record(v)
    data = h.export()["Data"]
    # 0.001*9 is 0.009000000000000001 in IEEE doubles, as in real fortio JSON
    assert data[0] == {"Start": 0.0085, "End": 0.009000000000000001, "Percent": 100.0 * 2 / 3, "Count": 2}
    assert data[1]["Start"] == 0.009000000000000001 and data[1]["End"] == 0.0095


def test_export_skips_empty_buckets_but_keeps_their_boundary_as_next_start():
    h = Histogram(0.0, 0.001)
    for v in (0.0005, 0.0035, 0.0136):
        h.record(v)
    data = h.export()["Data"]
    assert [(b["Start"], b["End"], b["Count"]) for b in data] == [
        (0.0005, 0.001, 1),
        (0.003, 0.004, 1),
        (0.012, 0.0136, 1),  # last bucket ends at Max
    ]
    assert data[-1]["Percent"] == 100


def test_empty_histogram_exports_null_data_and_no_percentiles():
    exp = Histogram().export([50, 90])
    assert exp["Data"] is None and "Percentiles" not in exp and exp["Count"] == 0
    assert exp["Avg"] == 0 and exp["StdDev"] == 0


def test_population_stddev():
    c = Counter()
    for v in (1.0, 2.0, 3.0, 4.0):
        c.record(v)
    assert c.stddev == pytest.approx(math.sqrt(1.25))  # population, not sample (1.29)
    assert c.avg == 2.5 and (c.min, c.max, c.sum) == (1.0, 4.0, 10.0)


def test_three_points_percentiles_as_documented_in_fortio():
    # stats.go: "with 3 data points 10, 20, 30; p0-p33.33 == 10, p 66.666 = 20, p100 = 30"
    h = Histogram(0.0, 1.0)
    for v in (10.0, 20.0, 30.0):
        h.record(v)
    e = h.export()
    assert calc_percentile(e, 33.0) == 10.0
    assert calc_percentile(e, 100.0) == 30.0
    assert calc_percentile(e, 66.66666666666667) == pytest.approx(20.0)


def test_merge_adds_bucket_counts():
    a, b, whole = Histogram(), Histogram(), Histogram()
    for i, v in enumerate([0.0004, 0.002, 0.013, 0.05, 0.0021, 0.7]):
        (a if i % 2 else b).record(v)
        whole.record(v)
    a.transfer(b)
    assert a.counts == whole.counts and a.count == 6
    assert a.export([50, 99])["Percentiles"] == whole.export([50, 99])["Percentiles"]


@pytest.mark.parametrize("key", ["DurationHistogram", "ConnectionStats"])
def test_fortio_1_57_3_percentiles_recomputed_from_its_buckets(key):
    d = json.loads((FIXTURES / "fortio-1.57.3-result.json").read_text())
    h = d[key]
    want = h["Percentiles"]
    got = calc_percentiles(h, [p["Percentile"] for p in want])
    assert got == want  # bit for bit


def test_fortio_1_57_3_data_reproduced_by_recording_bucket_samples():
    """Recording one sample per count at each bucket's known position rebuilds the exported Data edges."""
    d = json.loads((FIXTURES / "fortio-1.57.3-result.json").read_text())["DurationHistogram"]
    h = Histogram(0.0, 0.001)
    for b in d["Data"]:
        for k in range(b["Count"]):
            # min and max samples at the outer edges, the others strictly inside the bucket
            if b is d["Data"][0] and k == 0:
                v = d["Min"]
            elif b is d["Data"][-1] and k == b["Count"] - 1:
                v = d["Max"]
            else:
                v = (b["Start"] + b["End"]) / 2
            h.record(v)
    exp = h.export([p["Percentile"] for p in d["Percentiles"]])
    assert [(b["Start"], b["End"], b["Count"], b["Percent"]) for b in exp["Data"]] == [
        (b["Start"], b["End"], b["Count"], b["Percent"]) for b in d["Data"]
    ]
    assert exp["Percentiles"] == d["Percentiles"]


def test_istio_1_3_text_targets_recomputed_from_printed_buckets():
    """The 5 `# target` lines of Istio's fortio output follow from its printed buckets."""
    text = (FIXTURES / "fortio-1.3-text-istio-task-c3-n30.txt").read_text()
    r = read_result(text)
    hdata = {
        "Count": r.count, "Min": r.min_s, "Max": r.max_s,
        "Data": [
            {"Start": b.start_s, "End": b.end_s, "Percent": b.percent, "Count": b.count} for b in r.histogram
        ],
    }  # fmt: skip
    # the printed Percent is rounded to 2 decimals: recompute it from the counts as fortio does
    total = 0
    for b in hdata["Data"]:
        total += b["Count"]
        b["Percent"] = 100.0 * total / r.count
    for p, printed in r.percentiles.items():
        assert go_g(calc_percentile(hdata, p), 6) == go_g(printed, 6), p


def test_histogram_print_reproduces_istio_text_line_by_line():
    lines = (FIXTURES / "fortio-1.3-text-istio-task-c3-n30.txt").read_text().splitlines()
    r = read_result("\n".join(lines))
    start = lines.index(next(x for x in lines if x.startswith("Aggregated Function Time")))
    end = max(i for i, x in enumerate(lines) if x.startswith("# target")) + 1
    data, total = [], 0
    for b in r.histogram:
        total += b.count
        data.append(
            {"Start": b.start_s, "End": b.end_s, "Percent": 100.0 * total / r.count, "Count": b.count}
        )
    data[0]["Start"], data[-1]["End"] = r.min_s, r.max_s
    hdata = {
        "Count": r.count, "Min": r.min_s, "Max": r.max_s, "Sum": r.avg_s * r.count, "Avg": r.avg_s,
        "StdDev": r.stddev_s, "Data": data,
        "Percentiles": [{"Percentile": p, "Value": v} for p, v in r.percentiles.items()],
    }  # fmt: skip
    printed = histogram_lines(hdata, "Aggregated Function Time")
    # counter line: sum is printed with %.9g; recompute it from the text's own value
    printed[0] = printed[0].rsplit(" sum ", 1)[0] + " sum " + lines[start].rsplit(" sum ", 1)[1]
    assert printed == lines[start:end]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8.8249e-05, "8.8249e-05"),
        (0.000341924, "0.000341924"),
        (100.0, "100"),
        (0.0, "0"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (0.009000000000000001, "0.009000000000000001"),
        (576.98, "576.98"),
    ],
)
def test_go_shortest_g(value, text):
    assert go_g(value) == text


def test_go_precision_g_matches_c():
    assert go_g(0.0040001633, 8) == "0.0040001633"
    assert go_g(0.003447, 4) == "0.003447"
    assert go_g(576.977, 5) == "576.98"


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (51994600, "51.9946ms"),
        (5_000_000_000, "5s"),
        (60_000_000_000, "1m0s"),
        (1500, "1.5µs"),
        (0, "0s"),
        (12538231589, "12.538231589s"),
        (3_723_000_000_000, "1h2m3s"),
    ],
)
def test_go_duration_string(ns, text):
    assert go_duration(ns) == text


def test_parse_percentiles_rules():
    assert parse_percentiles("50, 75,90,99,99.9") == [50, 75, 90, 99, 99.9]
    for bad in ("0", "100", "", "x"):
        with pytest.raises(ValueError):
            parse_percentiles(bad)


def test_go_json_rewrites_real_fortio_output_byte_for_byte():
    raw = (FIXTURES / "fortio-1.57.3-result.json").read_text()
    assert go_json(json.loads(raw)) == raw


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8.8249e-05, "0.000088249"),
        (1e-07, "1e-7"),
        (100.0, "100"),
        (0.0, "0"),
        (1e21, "1e+21"),
        (-0.5, "-0.5"),
    ],
)
def test_go_json_floats(value, text):
    assert go_json_float(value) == text


def test_go_json_escapes_html_like_go():
    assert go_json({"Labels": "a<b>&c"}) == '{\n  "Labels": "a\\u003cb\\u003e\\u0026c"\n}'
