"""Every backend keeps the ``Backend`` contract: the same verbs with the same parameters (checked against the
Protocol's own signatures, so a verb that drifts fails here), context management from the one base class,
and the two views every backend shares (the proxy config YAML, the run log behind ``explain``)."""

from __future__ import annotations

import inspect

import pytest
import yaml

from lablib import LabError
from lablib.backends import config_view
from lablib.backends.base import Backend, BackendBase
from lablib.backends.fake import FakeBackend
from lablib.backends.kind import KindBackend
from lablib.backends.mesh import MeshBackend
from lablib.backends.run_log import RunLog

#: The verbs of the contract, read from the Protocol itself.
VERBS = sorted(name for name, value in vars(Backend).items() if inspect.isfunction(value)
               and (not name.startswith("_") or name in ("__enter__", "__exit__")))
BACKENDS = [FakeBackend, MeshBackend, KindBackend]


def test_the_contract_is_what_the_notebooks_call():
    assert VERBS == ["__enter__", "__exit__", "apply", "cleanup", "close", "delete", "explain", "fortio",
                     "hosts", "proxy_config", "reset_counters", "responses", "set_fault", "stats"]


def _params(fn: object) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())[1:]  # type: ignore[arg-type]  # without self


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_takes_what_the_protocol_says(backend: type, verb: str):
    """Same parameter names, kinds and defaults in the same order; a backend may add parameters only after
    them and only with a default (``KindBackend.cleanup(delete_cluster=False)``, ``MeshBackend.responses(…,
    pod=None)``), so a call written against the contract works on every backend."""
    want, have = _params(getattr(Backend, verb)), _params(getattr(backend, verb))
    shape = [(p.name, p.kind, p.default) for p in want]
    assert [(p.name, p.kind, p.default) for p in have[:len(want)]] == shape, (backend, verb)
    for extra in have[len(want):]:
        assert extra.default is not inspect.Parameter.empty or extra.kind is inspect.Parameter.VAR_KEYWORD, (
            backend, verb, extra)


@pytest.mark.parametrize("verb", [v for v in VERBS if not v.startswith("__")])
def test_the_fake_has_the_protocols_very_signatures(verb: str):
    """The fake is the contract's reference implementation: annotations too, nothing added."""
    assert inspect.signature(getattr(FakeBackend, verb)) == inspect.signature(getattr(Backend, verb))


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__)
def test_context_management_comes_from_the_base_once(backend: type):
    assert issubclass(backend, BackendBase)
    assert "__enter__" not in vars(backend) and "__exit__" not in vars(backend)


def test_with_closes_the_backend():
    closed = []

    class Probe(FakeBackend):
        def close(self) -> None:
            closed.append(self)

    with Probe() as probe:
        assert isinstance(probe, Backend) and not closed
    assert closed == [probe]
    with pytest.raises(ZeroDivisionError), Probe() as second:  # an error in the body still closes it
        1 / 0  # noqa: B018
    assert closed == [probe, second]


# -- the shared views -----------------------------------------------------------------------------------
DUMP = [
    {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
     "cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "outbound|80||a",
                 "circuit_breakers": {"thresholds": [{"max_connections": 3}]}}},
    {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster"},  # nothing in it
]


def test_the_config_view_shows_clusters_as_istioctl_does():
    assert yaml.safe_load(config_view.render("clusters", DUMP)) == [
        {"name": "outbound|80||a", "circuitBreakers": {"thresholds": [{"maxConnections": 3}]}}]


def test_the_config_view_shows_listeners_as_envoy_dumps_them():
    listener = {"name": "0.0.0.0_80", "address": {"socket_address": {"port_value": 80}}}
    dump = [{"active_state": {"listener": {"@type": "x", **listener}}}, {"warming_state": {}}]
    assert yaml.safe_load(config_view.render("listener", dump)) == [listener]
    assert config_view.render("secret", []) == "[]\n"


def test_an_unknown_view_names_the_ones_there_are():
    with pytest.raises(LabError) as err:
        config_view.config_dump_resource("endpoints")
    assert str(err.value) == "proxy-config 'endpoints': use one of cluster, route, listener, secret"
    zh = err.value.in_lang("zh")
    assert zh == "proxy-config 'endpoints'：请使用以下之一：cluster、route、listener、secret"


def test_the_run_log_finds_a_run_by_its_result_and_forgets_old_ones():
    log: RunLog[str] = RunLog(keep=2)
    with pytest.raises(LabError, match=r"nothing to explain: run lab\.fortio"):
        log.find()
    results = [object() for _ in range(3)]
    for i, result in enumerate(results):
        log.record(result, f"run {i}")
    assert log.find() == "run 2" and log.find(results[1]) == "run 1" and len(log) == 2
    for gone in (results[0], object()):  # too old, or not this backend's
        with pytest.raises(LabError) as err:
            log.find(gone)
        assert "not produced by this lab's fortio()" in str(err.value)
        assert "不是由这个实验环境的 fortio() 产生的" in err.value.in_lang("zh")
