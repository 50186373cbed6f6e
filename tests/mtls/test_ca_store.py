"""The lab CA kept in the state dir (owner-only) and read back by a later process; a live secret described
as `istioctl proxy-config secret` shows it."""

from __future__ import annotations

import base64
import stat

import pytest
from cryptography import x509

from lablib._exceptions import BackendError
from lablib.mtls import LabCA
from lablib.mtls.describe import describe_secret


def test_saved_ca_signs_with_the_same_root_and_keeps_its_key_private(tmp_path):
    ca = LabCA.create()
    ca.save(tmp_path / "ca")
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "ca" / "ca-key.pem").stat().st_mode) == 0o600
    again = LabCA.load(tmp_path / "ca")
    assert again.root_pem == ca.root_pem
    cert = x509.load_pem_x509_certificate(again.issue("default", "reviews").certificate_pem.encode())
    cert.verify_directly_issued_by(ca.root)  # raises if the loaded key is not the root's


def test_a_missing_or_damaged_ca_is_a_backend_error_saying_what_to_do(tmp_path):
    with pytest.raises(BackendError, match="cleanup"):
        LabCA.load(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ca-key.pem").write_text("not a key")
    (tmp_path / "bad" / "ca-cert.pem").write_text("not a cert")
    with pytest.raises(BackendError, match="could not read the lab CA"):
        LabCA.load(tmp_path / "bad")


def test_describe_secret_reads_identity_serial_and_validity_from_the_dump():
    ca = LabCA.create()
    cert = ca.issue("default", "service-go")
    dumped = {"name": "default", "secret": {"name": "default", "tls_certificate": {
        "certificate_chain": {"inline_bytes": base64.b64encode(cert.certificate_pem.encode()).decode()},
        "private_key": {"inline_string": "[redacted]"}}}}
    row = describe_secret(dumped)
    assert row["type"] == "Cert Chain" and row["valid_cert"] is True
    assert row["identities"] == ["spiffe://cluster.local/ns/default/sa/service-go"]
    root = describe_secret({"name": "ROOTCA", "secret": {"name": "ROOTCA", "validation_context": {
        "trusted_ca": {"inline_string": ca.root_pem}}}})
    assert root["type"] == "CA" and root["issuer"] == "O=cluster.local" and root["identities"] == []
    assert describe_secret({"name": "x", "secret": {}})["type"] == "Unknown"
