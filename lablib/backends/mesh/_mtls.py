"""The embedded mesh's identities: Istio's auto mTLS between sidecars, on by default as in Istio.

A lab CA is made at lab start and kept in the state dir (``<root>/ca``, owner-only) so that a later process
of the lab (an attached CLI call starting a pod) signs with the same root. Each sidecar gets its SPIFFE
identity ``spiffe://cluster.local/ns/<ns>/sa/<serviceAccountName or default>`` as the two SDS secret files
``default`` and ``ROOTCA`` in ``<config>/secrets/<sidecar>/``, which its clusters (client side) and inbound
listener (server side) read through Envoy's filesystem SDS. Paths are computed here (pure) so the plan can
name them; writing is :func:`issue_secrets`.
"""

from __future__ import annotations

from pathlib import Path

from lablib.mtls import LabCA, write_sidecar_secrets
from lablib.translate.tls import MeshTls, SecretSource, file_secrets

__all__ = ["ca_dir", "client_mesh_tls", "create_ca", "issue_secrets", "load_ca", "secret_source",
           "secrets_dir"]


def ca_dir(root: Path) -> Path:
    """Where the lab's CA lives (in the lab's 0700 state dir)."""
    return root / "ca"


def secrets_dir(config: Path, sidecar: str) -> Path:
    """One sidecar's SDS secret files (``default.json``, ``ROOTCA.json``)."""
    return config / "secrets" / sidecar


def secret_source(config: Path, sidecar: str) -> SecretSource:
    """Where ``sidecar``'s Envoy reads its ``default`` and ``ROOTCA`` secrets (filesystem SDS)."""
    return file_secrets(str(secrets_dir(config, sidecar)))


def client_mesh_tls(config: Path, sidecar: str) -> MeshTls:
    """What translate needs for auto mTLS from ``sidecar``'s clusters: its own certificate source."""
    return MeshTls(secret_source(config, sidecar))


def create_ca(root: Path) -> LabCA:
    ca = LabCA.create()
    ca.save(ca_dir(root))
    return ca


def load_ca(root: Path) -> LabCA:
    return LabCA.load(ca_dir(root))


def issue_secrets(ca: LabCA, config: Path, sidecar: str, *, namespace: str, service_account: str) -> Path:
    """Sign ``sidecar``'s workload certificate and write its secret files (before its Envoy reads them)."""
    directory = secrets_dir(config, sidecar)
    write_sidecar_secrets(directory, ca, ca.issue(namespace, service_account or "default"))
    return directory
