"""One reader for real fortio JSON, fortio's text summaries (1.0.1, 1.3) and our JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lablib._exceptions import FortioError
from lablib.fortio import FortioResult, read_result

FIXTURES = Path(__file__).parent / "fixtures"


def test_real_fortio_1_57_3_json():
    r = read_result(FIXTURES / "fortio-1.57.3-result.json")
    assert isinstance(r, FortioResult) and r.source == "fortio-json"
    assert r.codes == {200: 100} and r.count == 100 and r.num_threads == 4
    assert r.requested_qps == 8.0 and r.qps == pytest.approx(7.975606391552989)
    assert r.duration_s == pytest.approx(12.538231589)
    assert r.percentiles[99.9] == 0.0404410378 and r.percentiles[50] == 0.014571428571428572
    assert r.sockets == 4 and r.sockets_per_thread == [1, 1, 1, 1]
    assert r.histogram[0].start_s == r.min_s and r.histogram[-1].end_s == r.max_s
    assert sum(b.count for b in r.histogram) == 100
    assert r.errors_histogram == [] and r.ok == 100 and r.non_ok == 0
    assert r.url == "http://httpbin.default/get" and r.version == "1.57.3" and r.raw["Exactly"] == 100


def test_dict_and_json_text_give_the_same_record():
    text = (FIXTURES / "fortio-1.57.3-result.json").read_text()
    assert read_result(json.loads(text)) == read_result(text)


def test_istio_task_fortio_1_3_text():
    r = read_result(FIXTURES / "fortio-1.3-text-istio-task-c3-n30.txt")
    assert r.source == "fortio-text"
    assert r.codes == {200: 11, 503: 19} and r.count == 30
    assert r.sockets == 20 and r.num_threads == 3
    assert r.qps == 576.98 and r.duration_s == pytest.approx(0.0519946)
    assert r.percentiles == {50: 0.003, 75: 0.00583333, 90: 0.009, 99: 0.0153601, 99.9: 0.0158847}
    assert r.share(503) == pytest.approx(19 / 30) and r.non_ok == 19
    assert len(r.histogram) == 11 and r.histogram[-1].end_s == 0.015943


@pytest.mark.parametrize(
    ("name", "c", "codes", "sockets", "qps", "p50", "p999"),
    [
        ("seed-fortio-1.0.1-c20-n200.txt", 20, {200: 192, 503: 8}, 28, 482.7, 0.025, 0.112801),
        ("seed-fortio-1.0.1-c30-n300.txt", 30, {200: 204, 503: 96}, 121, 929.3, 0.0174667, 0.13195),
        ("seed-fortio-1.0.1-c40-n400.txt", 40, {200: 240, 503: 160}, 183, 950.4, 0.0189677, 0.235079),
    ],
)
def test_the_books_three_runs(name, c, codes, sockets, qps, p50, p999):
    r = read_result(FIXTURES / name)
    assert r.codes == codes and r.count == 10 * c and r.num_threads == c
    assert r.sockets == sockets and r.qps == qps
    assert r.percentiles[50] == p50 and r.percentiles[99.9] == p999
    assert r.version == "1.0.1" and r.url == "http://service-go/env" and r.exactly == 10 * c
    assert r.duration_s == pytest.approx(r.count / qps)
    # the socket rule holds in the book too: C + #503 - (threads that ended on a 503), last term in [0, C]
    assert 0 <= c + r.codes[503] - r.sockets <= c


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FortioError, match="no such file"):
        read_result(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"RunType": ')
    with pytest.raises(FortioError, match=r"bad\.json:1: not valid JSON"):
        read_result(bad)
    with pytest.raises(FortioError, match="not a fortio load result"):
        read_result({"foo": 1})
    with pytest.raises(FortioError, match="not a fortio load summary"):
        read_result("hello\nworld\n")


def test_a_summary_duration_go_cannot_read_is_a_positioned_error(tmp_path):
    # fortio prints Go's Duration.String ("51.9946ms", "1m0.5s"), read by the lab's one parser
    text = (FIXTURES / "fortio-1.3-text-istio-task-c3-n30.txt").read_text()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("Ended after"))
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace("Ended after 51.9946ms", "Ended after 51.9946msec"))
    with pytest.raises(FortioError, match=rf"bad\.txt:{line}: '51\.9946msec' is not a Go duration"):
        read_result(bad)
    good = tmp_path / "good.txt"
    good.write_text(text.replace("Ended after 51.9946ms", "Ended after 1m0.5s"))
    assert read_result(good).duration_s == 60.5

