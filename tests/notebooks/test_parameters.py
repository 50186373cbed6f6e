"""Notebook parameters: what papermill or a student writes becomes the type a lab's cells use, or one
``ParameterError`` in the notebook's language naming the parameter, the value and the expected type.

The property test runs every lab's declared parameters against arbitrary values: each is either accepted and
normalised to its type, or refused with a ParameterError, never any other exception.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lablib import ParameterError
from lablib.labs import LABS, parameters_of, read_parameters
from lablib.notebook import parameters as P
from lablib.notebook.runs import check_runs
from tests.support import CJK

SCHEMAS = {info.number: parameters_of(info.number) for info in LABS}

#: Values of every shape: numbers (huge, negative, NaN), strings (numeric, lists, JSON, junk), lists, None.
ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30) | st.sampled_from(["[20, 40]", "20, 40", "20 40", "1e400", "nan", "3s", "15s",
                                               "0s", "en", "ZH", "embedded", "True", "false", "None", "",
                                               "[1, [2]]", "[", "9" * 5000, "v1", "50-50"]),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _typed(param: P.Param, value: object) -> bool:
    """Whether ``value`` has the type ``param`` promises."""
    if isinstance(param, P.Optional):
        return value is None or _typed(param.inner, value)
    if isinstance(param, P.Int):
        return type(value) is int
    if isinstance(param, P.Number):
        return type(value) is float and math.isfinite(value)
    if isinstance(param, P.IntList):
        return isinstance(value, list) and bool(value) and all(type(v) is int for v in value)
    if isinstance(param, P.Flag):
        return type(value) is bool
    if isinstance(param, (P.OneOf, P.Duration, P.Text)):
        return type(value) is str
    raise AssertionError(param)


@settings(max_examples=300, deadline=None)
@given(lab=st.sampled_from(sorted(SCHEMAS)), data=st.data())
def test_every_value_of_every_lab_parameter_is_typed_or_a_parameter_error(lab, data):
    schema = SCHEMAS[lab]
    name = data.draw(st.sampled_from(sorted(schema)))
    value = data.draw(ANY)
    try:
        out = P.check({name: value}, {name: schema[name]})
    except ParameterError as exc:
        text = str(exc)
        assert name in text and "expected" in text
        assert CJK.search(exc.in_lang("zh"))
        return
    assert _typed(schema[name], out[name]), (name, value, out[name])


def test_every_lab_declares_every_parameter_of_its_notebook():
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    for info in LABS:
        source = (repo / info.source).read_text(encoding="utf-8")
        cell = source.split('tags=["parameters"]', 1)[1].split("# %%", 1)[0]
        names = set(re.findall(r"^([a-z_][a-z0-9_]*) = ", cell, re.MULTILINE))
        assert names <= set(SCHEMAS[info.number]), (info.number, names - set(SCHEMAS[info.number]))
        assert set(info.ci_parameters) <= set(SCHEMAS[info.number]), info.number
        # and CI's values are read as they are meant
        P.check(info.ci_parameters, SCHEMAS[info.number])


@pytest.mark.parametrize("given_value", ["[20, 40]", "20, 40", "20 40", " 20,40 ", [20, 40], (20, 40.0)])
def test_what_can_be_read_one_way_is_accepted(given_value):
    assert P.check({"concurrency": given_value}, SCHEMAS["01"])["concurrency"] == [20, 40]


def test_single_values_and_strings_are_read_as_their_type():
    out = P.check({"concurrency": "30", "repeats": "3", "workers": 2.0, "persist": "false", "lang": " ZH ",
                   "backend": "Embedded", "predict_seed_share": "30%", "predict_counter": None,
                   "exercise_lab01": ""}, SCHEMAS["01"])
    assert out["concurrency"] == [30] and out["repeats"] == 3 and out["workers"] == 2
    assert out["persist"] is False and out["lang"] == "zh" and out["backend"] == "embedded"
    assert out["predict_seed_share"] == 30.0 and out["predict_counter"] is None
    assert out["exercise_lab01"] is None  # an empty answer: not given
    assert out["predict_pending_share"] is None  # not in the cell: its default


def test_papermill_string_that_crashed_check_runs_now_reads_as_a_list():
    values = P.check({"concurrency": "[20, 40]"}, SCHEMAS["01"])
    check_runs(values["concurrency"])  # TypeError: '<' not supported ... before


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("concurrency", "twenty", "a non-empty list of whole numbers >= 1"),
    ("concurrency", [20, "x"], "a non-empty list of whole numbers >= 1"),
    ("concurrency", [], "a non-empty list of whole numbers >= 1"),
    ("concurrency", "[20, 0]", "a non-empty list of whole numbers >= 1"),
    ("repeats", 2.5, "a whole number >= 1"),
    ("repeats", True, "a whole number >= 1"),
    ("persist", "yes please", "True or False"),
    ("lang", "fr", 'one of "en", "zh"'),
    ("predict_seed_share", 140, "a number from 0 to 100, or None"),
])
def test_what_cannot_be_read_is_refused_with_name_value_and_type(name, value, expected):
    with pytest.raises(ParameterError) as info:
        P.check({name: value}, SCHEMAS["01"])
    text = str(info.value)
    assert f"{name} = {value!r}" in text and expected in text
    zh = info.value.in_lang("zh")
    assert f"{name} = {value!r}" in zh and CJK.search(zh)


def test_every_refused_parameter_is_named_in_one_error():
    with pytest.raises(ParameterError) as info:
        P.check({"base_ejection_time": "3x", "interval": 1, "qps": "fast", "fault_code": 404}, SCHEMAS["02"])
    text = str(info.value)
    assert text.startswith("4 parameter(s)")
    for name in ("base_ejection_time", "interval", "qps", "fault_code"):
        assert f"  {name} = " in text


def test_read_writes_the_typed_values_back_and_sets_the_language():
    from lablib.notebook import language

    namespace = {"concurrency": "10, 20", "calls_per_thread": "10", "repeats": 1, "workers": 2,
                 "persist": False, "backend": "embedded", "lang": "zh", "unrelated": object()}
    try:
        values = read_parameters(namespace, lab="01")
        assert namespace["concurrency"] == [10, 20] and namespace["calls_per_thread"] == 10
        assert values["lang"] == "zh" and language._lang == "zh"
        assert namespace["predict_seed_share"] is None and namespace["exercise_lab01"] is None
        with pytest.raises(ParameterError):
            read_parameters({**namespace, "workers": "two"}, lab="01")
    finally:
        language.set_language("en")
