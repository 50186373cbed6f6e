"""The lab CA issues certificates shaped like istiod's, and writes SDS secret files only their owner reads."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lablib._exceptions import BackendError
from lablib.mtls import WORKLOAD_TTL, LabCA, secret_files, write_sidecar_secrets
from lablib.mtls.sds import SECRET_TYPE
from lablib.translate import file_secrets


@pytest.fixture(scope="module")
def ca() -> LabCA:
    return LabCA.create()


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_the_root_is_a_self_signed_ca_of_the_trust_domain(ca: LabCA) -> None:
    root = load(ca.root_pem)
    assert root.subject == root.issuer
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "cluster.local"
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    root.verify_directly_issued_by(root)
    assert root.not_valid_after_utc - root.not_valid_before_utc > dt.timedelta(days=3000)


def test_a_workload_certificate_carries_only_its_spiffe_identity(ca: LabCA) -> None:
    issued = ca.issue("default", "service-go")
    cert = load(issued.certificate_pem)
    assert issued.identity == "spiffe://cluster.local/ns/default/sa/service-go"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical  # the subject is empty, so the SAN must be critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [issued.identity]
    assert len(cert.subject) == 0
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    cert.verify_directly_issued_by(load(ca.root_pem))


def test_workload_certificates_are_short_lived_like_istios(ca: LabCA) -> None:
    cert = load(ca.issue("default", "fortio").certificate_pem)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert WORKLOAD_TTL <= lifetime <= WORKLOAD_TTL + dt.timedelta(minutes=5)  # plus the backdating
    assert dt.timedelta(hours=24) == WORKLOAD_TTL


def test_another_ca_does_not_vouch_for_this_one(ca: LabCA) -> None:
    other = LabCA.create()
    with pytest.raises(Exception):  # noqa: B017 - cryptography raises InvalidSignature or ValueError
        load(ca.issue("default", "x").certificate_pem).verify_directly_issued_by(load(other.root_pem))


def test_secret_files_are_where_the_translation_points_envoy(ca: LabCA, tmp_path: Path) -> None:
    files = write_sidecar_secrets(tmp_path / "fortio", ca, ca.issue("default", "fortio"))
    assert files == secret_files(tmp_path / "fortio")
    source = file_secrets(str(tmp_path / "fortio"))
    for name, path in files.items():
        assert source(name)["path_config_source"]["path"] == str(path)
        (resource,) = json.loads(path.read_text())["resources"]
        assert resource["@type"] == SECRET_TYPE
        assert resource["name"] == name
    default = json.loads(files["default"].read_text())["resources"][0]["tls_certificate"]
    assert "BEGIN PRIVATE KEY" in default["private_key"]["inline_string"]
    root = json.loads(files["ROOTCA"].read_text())["resources"][0]["validation_context"]["trusted_ca"]
    assert root["inline_string"] == ca.root_pem


def test_secret_files_belong_to_their_owner_only(ca: LabCA, tmp_path: Path) -> None:
    directory = tmp_path / "pod"
    files = write_sidecar_secrets(directory, ca, ca.issue("default", "fortio"))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rewriting_rotates_the_certificate_and_leaves_no_temporary_files(ca: LabCA, tmp_path: Path) -> None:
    first = write_sidecar_secrets(tmp_path, ca, ca.issue("default", "fortio"))["default"].read_text()
    second = write_sidecar_secrets(tmp_path, ca, ca.issue("default", "fortio"))["default"].read_text()
    assert first != second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ROOTCA.json", "default.json"]


def test_an_unwritable_place_is_a_lab_error(ca: LabCA, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BackendError, match="could not write the mTLS secrets"):
        write_sidecar_secrets(blocker / "pod", ca, ca.issue("default", "fortio"))
