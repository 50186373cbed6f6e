"""The lab's certificate authority: a self-signed mesh root and short-lived workload certificates, as istiod's
built-in CA issues them (``security/pkg/pki/ca/ca.go``, ``security/pkg/pki/util/generate_cert.go``).

Each workload certificate carries only its SPIFFE identity, ``spiffe://<trust domain>/ns/<ns>/sa/<account>``,
as a critical URI SAN with an empty subject, is valid for both TLS client and server, and lives 24 hours
(Istio's ``SECRET_TTL`` default). The root is RSA 2048 with ``O=<trust domain>``, valid 10 years (Istio's
``CITADEL_SELF_SIGNED_CA_CERT_TTL`` default). Keys are RSA 2048, Istio's default ``PKEY_TYPE``.

Pure in-memory objects: :mod:`lablib.mtls.sds` writes them where Envoy reads them.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lablib._exceptions import BackendError
from lablib._types import PathLike
from lablib.i18n import Msg
from lablib.translate.tls import spiffe_id

__all__ = ["ROOT_TTL", "WORKLOAD_TTL", "LabCA", "WorkloadCertificate"]

#: Istio's defaults: ``CITADEL_SELF_SIGNED_CA_CERT_TTL`` 10 years, ``SECRET_TTL`` 24 hours.
ROOT_TTL: Final = dt.timedelta(days=3650)
WORKLOAD_TTL: Final = dt.timedelta(hours=24)
#: istiod's file names for its CA (``cacerts`` / ``istio-ca-secret``: ``ca-cert.pem``, ``ca-key.pem``).
CA_CERT_FILE: Final = "ca-cert.pem"
CA_KEY_FILE: Final = "ca-key.pem"
#: Certificates start a minute early so a clock a little behind still accepts them.
_BACKDATE: Final = dt.timedelta(minutes=1)
_KEY_BITS: Final = 2048


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    # A CA signs certificates and CRLs; a workload signs handshakes and (RSA) encrypts key exchanges.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _pem_key(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class WorkloadCertificate:
    """One workload's certificate (PEM), its private key (PEM, unencrypted) and identity."""

    identity: str
    certificate_pem: str
    private_key_pem: str
    not_after: dt.datetime


class LabCA:
    """A mesh root CA made at lab start; :meth:`issue` signs workload certificates.

    >>> ca = LabCA.create()
    >>> cert = ca.issue("default", "default")
    >>> cert.identity
    'spiffe://cluster.local/ns/default/sa/default'
    """

    def __init__(self, key: rsa.RSAPrivateKey, root: x509.Certificate, trust_domain: str) -> None:
        self._key = key
        self.root = root
        self.trust_domain = trust_domain

    @classmethod
    def create(cls, trust_domain: str = "cluster.local", *, ttl: dt.timedelta = ROOT_TTL) -> LabCA:
        """A new self-signed root for ``trust_domain`` (``O=<trust domain>``, like istiod's)."""
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
        now = dt.datetime.now(dt.timezone.utc)
        root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + ttl)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, root, trust_domain)

    def save(self, directory: PathLike) -> None:
        """Keep the CA in ``directory`` (0700; the key 0600) so a later process of the same lab (an attached
        CLI call starting a new pod) signs with the same root."""
        d = Path(directory)
        key = _pem_key(self._key).encode()
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(d, 0o700)
            fd = os.open(d / CA_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
            (d / CA_CERT_FILE).write_text(self.root_pem)
        except OSError as exc:
            raise BackendError(Msg("mtls.ca.save_failed", dir=str(d), why=str(exc.strerror or exc))) from exc

    @classmethod
    def load(cls, directory: PathLike, trust_domain: str = "cluster.local") -> LabCA:
        """The CA :meth:`save` kept in ``directory``."""
        d = Path(directory)
        try:
            key = serialization.load_pem_private_key((d / CA_KEY_FILE).read_bytes(), password=None)
            root = x509.load_pem_x509_certificate((d / CA_CERT_FILE).read_bytes())
        except (OSError, ValueError) as exc:
            raise BackendError(Msg("mtls.ca.read_failed", dir=str(d), error=str(exc))) from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise BackendError(Msg("mtls.ca.not_rsa", dir=str(d)))
        return cls(key, root, trust_domain)

    @property
    def root_pem(self) -> str:
        """The root certificate, PEM: what every sidecar trusts (Istio's ``ROOTCA`` secret)."""
        return self.root.public_bytes(serialization.Encoding.PEM).decode()

    def issue(
        self, namespace: str, service_account: str, *, ttl: dt.timedelta = WORKLOAD_TTL
    ) -> WorkloadCertificate:
        """A workload certificate for ``spiffe://<trust domain>/ns/<namespace>/sa/<service_account>``."""
        key = _new_key()
        identity = spiffe_id(self.trust_domain, namespace, service_account)
        now = dt.datetime.now(dt.timezone.utc)
        not_after = now + ttl
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))  # Istio leaves the subject empty; the identity is the SAN
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            # An empty subject makes the SAN extension critical (RFC 5280 4.2.1.6).
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        return WorkloadCertificate(
            identity=identity,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            private_key_pem=_pem_key(key),
            not_after=not_after,
        )
