"""Lab 04's mTLS check fails on purpose on a lab started without auto mTLS, and says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from lablib.lab_defaults import MANIFESTS
from lablib.labs.reproducing_published_runs import reproduce
from tests.outlier.conftest import lab_home  # noqa: F401
from tests.support import CJK

pytestmark = pytest.mark.envoy


def test_mtls_handshakes_fails_without_mtls_and_names_the_remedy(lab_home: Path):  # noqa: F811
    from lablib.lab import Lab

    lab = Lab("embedded", name="mtls-off", mtls=False, service_time_ms=1)
    try:
        for f in ("service/go/service-go.yaml", "kubernetes/fortio.yaml",
                  "istio/route/virtual-service-go.yaml"):
            lab.apply(MANIFESTS / f)
        lab.fortio("load -c 1 -qps 0 -n 5 -loglevel Error http://service-go/env")
        en, zh = reproduce.mtls_handshakes(lab), reproduce.mtls_handshakes(lab, lang="zh")
    finally:
        lab.cleanup()
    assert not en.ok and "mTLS" in en.remedy and "Step 1" in en.remedy and en.remedy in str(en)
    assert not zh.ok and CJK.search(zh.remedy) and "第 1 步" in zh.remedy
