"""service-go: the sample app of the seed experiment, re-implemented in asyncio.

The book's ``service-go`` is a small Go (gin) server: ``GET /env`` answers ``{"message":"go v1"}`` (or
``v2``) as ``application/json; charset=utf-8`` and ``GET /status`` answers ``ok``. This one adds what the labs
need:

* a service time (``--service-time-ms``, default 25 ms: the book's runs averaged about 25 ms per call), and
* per-instance fault knobs for the outlier-detection and retries labs: a status code and the fraction of
  ``/env`` calls that get it, and a delay added to every ``/env`` call (a slow instance), set at start
  (``--fault-code 503 --fault-fraction 0.5 --fault-delay-ms 200``) or at runtime with
  ``POST /fault {"code": 503, "fraction": 0.5, "delay_ms": 200}`` (loopback clients only; ``GET /fault``
  reads them back).

Run it with ``python -m lablib.service_go --port N --version v1``. The embedded mesh starts one per pod
behind its inbound sidecar; the kind backend's image runs it with ``--host 0.0.0.0 --port 80``.
"""

from lablib.service_go._app import DEFAULT_SERVICE_TIME_MS, MAX_DELAY_MS, Fault, ServiceGo, serve

__all__ = ["DEFAULT_SERVICE_TIME_MS", "MAX_DELAY_MS", "Fault", "ServiceGo", "serve"]
