"""Write a sidecar's mTLS secrets where Envoy's filesystem SDS reads them.

Istio's agent serves each sidecar two secrets over SDS: ``default`` (the workload certificate and key) and
``ROOTCA`` (the mesh root). Here each is a file ``<directory>/<name>.json`` holding a DiscoveryResponse with
one ``Secret``, at the path :func:`lablib.translate.tls.file_secrets` gives Envoy. Files are replaced by an
atomic rename (Envoy reloads on the move) and readable by their owner only.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from lablib._exceptions import BackendError
from lablib._types import JSONDict, PathLike
from lablib.i18n import Msg
from lablib.mtls.ca import LabCA, WorkloadCertificate
from lablib.translate.tls import SDS_DEFAULT, SDS_ROOT, file_secrets

__all__ = ["SECRET_TYPE", "secret_files", "write_sidecar_secrets"]

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def secret_files(directory: PathLike) -> dict[str, Path]:
    """The file of each SDS resource name, from the same rule Envoy's config is translated with."""
    source = file_secrets(str(directory))
    return {name: Path(source(name)["path_config_source"]["path"]) for name in (SDS_DEFAULT, SDS_ROOT)}


def _resources(*secrets: JSONDict) -> JSONDict:
    return {"resources": [{"@type": SECRET_TYPE, **secret} for secret in secrets]}


def _write_private(path: Path, content: JSONDict) -> None:
    # Write beside the target, then rename over it: Envoy never reads half a file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(content, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_sidecar_secrets(directory: PathLike, ca: LabCA, cert: WorkloadCertificate) -> dict[str, Path]:
    """Write (or rotate) one sidecar's ``default`` and ``ROOTCA`` secret files; returns them by name.

    The directory is created owner-only (0700); ``mkstemp`` makes the files 0600: the key is the
    workload's identity, so only the lab's owner may read it.
    """
    files = secret_files(directory)
    try:
        Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        _write_private(
            files[SDS_DEFAULT],
            _resources(
                {
                    "name": SDS_DEFAULT,
                    "tls_certificate": {
                        "certificate_chain": {"inline_string": cert.certificate_pem},
                        "private_key": {"inline_string": cert.private_key_pem},
                    },
                }
            ),
        )
        _write_private(
            files[SDS_ROOT],
            _resources(
                {"name": SDS_ROOT, "validation_context": {"trusted_ca": {"inline_string": ca.root_pem}}}
            ),
        )
    except OSError as exc:
        raise BackendError(Msg("mtls.sds.write_failed", dir=str(directory), why=str(exc.strerror or exc))
                           ) from exc
    return files
