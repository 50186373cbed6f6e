"""The public surface of lablib.fortio, as the embedded mesh, plots and checks use it."""

from __future__ import annotations

import dataclasses
import inspect

import lablib.fortio as fortio
from lablib.fortio import DEFAULT_LOAD_OPTIONS, FortioResult, LoadOptions


def test_exported_members():
    assert sorted(fortio.__all__) == sorted([
        "DEFAULT_LOAD_OPTIONS", "FORTIO_VERSION", "VERSION", "Bucket", "FortioResult", "LoadOptions",
        "ProgressCallback", "curl", "load", "read_result",
    ])  # fmt: skip
    for name in fortio.__all__:
        assert getattr(fortio, name) is not None


def test_load_signature_is_the_contract():
    sig = inspect.signature(fortio.load)
    assert list(sig.parameters)[:4] == ["args", "connect_to", "progress", "stderr"]
    assert all(sig.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("connect_to", "progress"))


def test_result_record_fields_and_helpers():
    names = [f.name for f in dataclasses.fields(FortioResult)]
    for want in (
        "codes",
        "count",
        "num_threads",
        "qps",
        "requested_qps",
        "duration_s",
        "avg_s",
        "min_s",
        "max_s",
        "stddev_s",
        "percentiles",
        "sockets",
        "sockets_per_thread",
        "histogram",
        "errors_histogram",
        "url",
        "labels",
        "version",
        "source",
        "raw",
    ):
        assert want in names
    r = FortioResult(
        codes={200: 3, 503: 1, -1: 1},
        count=5,
        num_threads=1,
        qps=1.0,
        requested_qps=0.0,
        duration_s=5.0,
        avg_s=0.1,
        min_s=0.1,
        max_s=0.1,
        stddev_s=0.0,
        percentiles={},
        sockets=None,
        sockets_per_thread=None,
        histogram=None,
        errors_histogram=None,
        url="",
        labels="",
        version="",
        source="lablib",
    )
    assert (r.ok, r.non_ok, r.share(503)) == (3, 2, 0.2)
    assert dataclasses.is_dataclass(r) and r.__dataclass_params__.frozen


def test_options_are_keyword_only_with_fortios_defaults():
    assert DEFAULT_LOAD_OPTIONS.num_threads == 4 and DEFAULT_LOAD_OPTIONS.qps == 8.0
    assert DEFAULT_LOAD_OPTIONS.duration_s == 5.0 and DEFAULT_LOAD_OPTIONS.timeout_s == 3.0
    o = LoadOptions(url="service-go/env").normalized()
    assert o.labels.startswith("service-go/env , ")
