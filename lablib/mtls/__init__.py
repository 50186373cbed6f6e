"""Istio's mesh identity for the lab: a certificate authority made at lab start (:mod:`lablib.mtls.ca`) and
each sidecar's SDS secret files (:mod:`lablib.mtls.sds`). The Envoy side of mTLS is pure translation in
:mod:`lablib.translate.tls`.
"""

from lablib.mtls.ca import ROOT_TTL, WORKLOAD_TTL, LabCA, WorkloadCertificate
from lablib.mtls.sds import secret_files, write_sidecar_secrets

__all__ = [
    "ROOT_TTL",
    "WORKLOAD_TTL",
    "LabCA",
    "WorkloadCertificate",
    "secret_files",
    "write_sidecar_secrets",
]
