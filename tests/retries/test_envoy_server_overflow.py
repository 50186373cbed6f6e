"""A server sidecar's overflow under retries, on real Envoy 1.40 configured as Istio 1.30 would (lab 05,
Step 6): v1 slow, v2 fast, two client pods calling at once against 4 requests per sidecar, RANDOM load
balancing, so v1's inbound breaker overflows and answers 503 with ``x-envoy-overloaded``.

Envoy retries that upstream 503 when the route's policy covers 503 (Envoy >= 1.15; before, it never retried an
``x-envoy-overloaded`` answer), so Istio's default policy (no status code since 1.24) does not and ``retryOn:
5xx`` does; with ``previous_hosts`` the retry goes to v2, without it (``retryIgnorePreviousHosts: false``)
RANDOM sends a share of the retries back to v1 (measured 19-30% of the retried calls end there: a retry that
lands on v1 may overflow again and be retried once more, so fewer end on v1 than RANDOM's half).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lablib.labs.retries_meet_breakers import mesh, steps
from lablib.labs.retries_meet_breakers.checks import allowed_back, retried_to
from lablib.labs.retries_meet_breakers.experiment import RetryRun, measure_many
from lablib.notebook.clients import start_clients

pytestmark = pytest.mark.envoy

V1, V2 = "service-go-v1-0", "service-go-v2-0"
CLIENTS = {"fortio": (4, 200), "fortio-2": (4, 200)}


@pytest.fixture(scope="module")
def two(lab: Any, work: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    lab.apply(mesh.with_v2(work))
    start_clients(lab, 2, directory=work)
    mesh.use_rule(lab, work, **steps.SECOND_CLIENT_RULE)
    mesh.make_slow(lab, 100)
    yield lab, steps.pod_addresses(lab)


def run(lab: Any, work: Path, route: dict[str, Any] | None) -> RetryRun:
    if route is None:
        lab.apply(mesh.BOOK_ROUTE)
    else:
        mesh.use_route(lab, work, **route)
    return measure_many(lab, "test", CLIENTS, responses=True)


def test_istios_default_policy_does_not_retry_a_server_sidecars_overflow(two: Any, work: Path) -> None:
    lab, _ = two
    r = run(lab, work, None)
    assert r.server_overflows(V1) > 0, r.server
    assert r.retries == 0 and r.codes.get(503, 0) > 0, (r.codes, r.client)
    overloaded = [x for x in r.records if x.code == 503]
    assert overloaded and all(x.overloaded and x.details == "via_upstream" and x.flags == "-"
                              for x in overloaded), {(x.flags, x.details, x.overloaded) for x in overloaded}
    # the client's own breaker did not act: every 503 came from a server sidecar
    assert r.client["upstream_rq_active_overflow"] == 0
    assert r.codes[503] == r.server_overflows()


def test_retry_on_5xx_retries_it_and_previous_hosts_sends_the_retry_to_the_other_pod(two: Any, work: Path
                                                                                    ) -> None:
    lab, addresses = two
    default = run(lab, work, None)
    retried = run(lab, work, {"attempts": 2})
    assert retried.server_overflows(V1) > 0 and retried.retries > 0, (retried.server, retried.client)
    assert retried.share_503 < default.share_503 / 3, (retried.codes, default.codes)
    on_v2, total = retried_to(retried, addresses, V2)
    # As lab 05's Step 6 check: a call may end back on v1 once per overflow of v2's own sidecar (a busy
    # machine slows v2 too; previous_hosts sends the retry of its 503 to v1), beyond the 1 in 5 (the strict
    # 80 % failed once, 47 of 59, in a warm `make test`)
    back = total - on_v2
    assert total > 10 and back <= allowed_back(total, retried.server_overflows(V2)), (on_v2, total,
                                                                                    retried.server)
    # gateway-error covers 503 too
    gateway = run(lab, work, {"attempts": 2, "retry_on": "gateway-error"})
    assert gateway.retries > 0 and gateway.share_503 < default.share_503 / 3


def test_without_previous_hosts_random_sends_retries_back_to_the_overflowing_pod(two: Any, work: Path
                                                                                 ) -> None:
    lab, addresses = two
    blind = run(lab, work, {"attempts": 2, "ignore_previous_hosts": False})
    on_v1, total = retried_to(blind, addresses, V1)
    # RANDOM picks v1 for about half the retries; the share that *ends* on v1 is lower (see the docstring).
    # 10% is more than 3 binomial standard errors below what was measured (with previous_hosts, 48 of 50
    # retried calls ended on v2 in the notebook's run).
    assert total > 10 and on_v1 >= 0.1 * total, (on_v1, total)
