"""A sidecar's live secrets as ``istioctl proxy-config secret`` shows them: name, type, validity, serial
number, dates and the SPIFFE identity, read from the certificates Envoy reports in ``/config_dump``
(``dynamic_active_secrets``; Envoy redacts private keys there)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

from cryptography import x509

__all__ = ["describe_secret"]


def _pem(source: Mapping[str, Any]) -> bytes | None:
    # Envoy dumps a DataSource as inline_bytes (base64 in proto3 JSON) or inline_string.
    if "inline_bytes" in source:
        return base64.b64decode(source["inline_bytes"])
    if "inline_string" in source:
        return str(source["inline_string"]).encode()
    return None


def _certificate(item: Mapping[str, Any]) -> tuple[str, bytes | None]:
    secret = item.get("secret") or {}
    if "tls_certificate" in secret:
        return "Cert Chain", _pem(secret["tls_certificate"].get("certificate_chain") or {})
    if "validation_context" in secret:
        return "CA", _pem(secret["validation_context"].get("trusted_ca") or {})
    return "Unknown", None


def describe_secret(item: Mapping[str, Any], *, now: dt.datetime | None = None) -> dict[str, Any]:
    """One ``dynamic_active_secrets`` entry as istioctl's columns (``RESOURCE NAME``, ``TYPE``, ``STATUS``,
    ``VALID CERT``, ``SERIAL NUMBER``, ``NOT AFTER``, ``NOT BEFORE``) plus its identity (URI SANs)."""
    kind, pem = _certificate(item)
    out: dict[str, Any] = {"resource_name": item.get("name") or (item.get("secret") or {}).get("name"),
                           "type": kind, "status": "ACTIVE"}
    if not pem:
        return out
    cert = x509.load_pem_x509_certificate(pem)
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        identities = sans.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        identities = []
    out.update({
        "valid_cert": cert.not_valid_before_utc <= now <= cert.not_valid_after_utc,
        "serial_number": format(cert.serial_number, "x"),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "identities": identities,
        "issuer": cert.issuer.rfc4514_string(),
    })
    return out
