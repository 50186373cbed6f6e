"""The lab's own defaults and data folders, in one place.

Istio's and Envoy's numbers live in ``lablib.translate.defaults``; these are the lab's choices, which every
backend, lab package and benchmark reads from here. Depends on nothing else in lablib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["HOST", "MANIFESTS", "PACKAGE_DIR", "PUBLISHED", "SERVICE_TIME_MS", "WORKERS"]

#: Worker threads of every sidecar (Envoy's ``--concurrency``) unless a pod's ``proxy.istio.io/config`` says
#: otherwise: the lab's choice, matching its 2-core reference machine (how Istio chooses it: lab 03, Step 3).
WORKERS: Final = 2
#: service-go's time per request in milliseconds: long enough that 20-40 fortio threads overflow the book's
#: rule, short enough that a run takes seconds (the book's service answers in about this time).
SERVICE_TIME_MS: Final = 25.0
#: The service the labs load (the book's ``service-go``), as a VirtualService/DestinationRule ``host``.
HOST: Final = "service-go"

#: The installed package and the data it ships (so a wheel, a JupyterHub image or Binder finds it).
PACKAGE_DIR: Final = Path(__file__).resolve().parent
#: The book's manifests (``kubernetes/``, ``service/go/``, ``istio/route/``, ``istio/resilience/``,
#: ``kind/``): the repository's ``manifests/``, shipped in the package as ``lablib/_manifests`` (a link in a
#: checkout).
MANIFESTS: Final = PACKAGE_DIR / "_manifests"
#: Real fortio outputs of the published runs (the book's and the Istio task's), read with ``lablib.fortio``.
PUBLISHED: Final = PACKAGE_DIR / "published"
