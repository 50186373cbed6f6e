"""Context safety with real kubeconfig files read by the real kubernetes config loader, and the state file
that records which kind clusters the lab created."""

from __future__ import annotations

import json

import pytest

import lablib
from lablib.backends.kind import (
    ALLOW_ENV,
    KubeContext,
    State,
    allowed_contexts,
    check_context,
    load_context,
    state_dir,
)

SERVERS = {"kind-istio-cb-lab": "https://127.0.0.1:41234", "prod": "https://prod.example.invalid:6443",
           "staging": "https://10.0.0.7:6443"}


def test_real_loader_resolves_named_and_current_context(write_kubeconfig, tmp_path):
    path = write_kubeconfig(SERVERS, current="staging")
    ctx, api = load_context(path, "prod", temp_dir=tmp_path)
    assert ctx == KubeContext(name="prod", cluster="prod-cluster", server=SERVERS["prod"], user="prod-user")
    assert api.configuration.host == SERVERS["prod"]
    assert api.configuration.api_key["BearerToken"] == "Bearer lab-test-token"
    api.close()
    current, api = load_context(path, None, temp_dir=tmp_path)
    assert current.name == "staging" and current.server == SERVERS["staging"]
    api.close()


def test_kubeconfig_env_with_several_files_is_merged(write_kubeconfig, monkeypatch, tmp_path):
    a = write_kubeconfig({"a-ctx": "https://127.0.0.1:1111"}, name="a.yaml")
    b = write_kubeconfig({"b-ctx": "https://127.0.0.1:2222"}, name="b.yaml")
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    ctx, api = load_context(None, "b-ctx", temp_dir=tmp_path)
    api.close()
    assert ctx.server == "https://127.0.0.1:2222"


def test_unknown_context_lists_the_ones_there_are(write_kubeconfig, tmp_path):
    path = write_kubeconfig(SERVERS)
    with pytest.raises(lablib.ClusterSafetyError, match=r"no context 'nope' \(it has: kind-istio-cb-lab, "
                                                        r"prod, staging\)"):
        load_context(path, "nope", temp_dir=tmp_path)


def test_a_context_the_lab_did_not_create_is_refused_with_how_to_allow_it(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    state = State(tmp_path / "state")
    prod = KubeContext("prod", "prod-cluster", SERVERS["prod"])
    with pytest.raises(lablib.ClusterSafetyError) as err:
        check_context(prod, state=state)
    text = str(err.value)
    assert "refusing to touch Kubernetes context 'prod' (API server https://prod.example.invalid:6443)" \
        in text
    assert "Lab(backend='kind', context='prod', allow_contexts=['prod'])" in text
    assert "export LABLIB_ALLOW_CONTEXTS=prod" in text
    assert isinstance(err.value, lablib.BackendError)


def test_allow_list_explicit_and_from_the_environment(tmp_path, monkeypatch):
    state = State(tmp_path / "state")
    prod = KubeContext("prod", "prod-cluster", SERVERS["prod"])
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    assert check_context(prod, state=state, allow=["prod"]) == "allowed"
    monkeypatch.setenv(ALLOW_ENV, " staging , prod,")
    assert allowed_contexts() == frozenset({"staging", "prod"})
    assert check_context(prod, state=state) == "allowed"
    # Allowing one name allows only that name.
    monkeypatch.setenv(ALLOW_ENV, "prod-2")
    with pytest.raises(lablib.ClusterSafetyError):
        check_context(prod, state=state)


def test_a_kind_cluster_the_lab_created_is_trusted_only_at_its_recorded_server(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    state = State(tmp_path / "state")
    state.record_created("istio-cb-lab", context="kind-istio-cb-lab", server=SERVERS["kind-istio-cb-lab"],
                         kubeconfig=str(state.kubeconfig))
    ours = KubeContext("kind-istio-cb-lab", "kind-istio-cb-lab", SERVERS["kind-istio-cb-lab"])
    assert check_context(ours, state=state) == "created"
    # Same context name, another API server (someone else's cluster under that name): refused.
    other = KubeContext("kind-istio-cb-lab", "kind-istio-cb-lab", "https://192.168.1.20:6443")
    with pytest.raises(lablib.ClusterSafetyError):
        check_context(other, state=state)


def test_state_file_round_trip_and_location(tmp_path, monkeypatch):
    monkeypatch.setenv("LABLIB_HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home" / "kind"
    monkeypatch.delenv("LABLIB_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert state_dir() == tmp_path / "cache" / "lablib" / "kind"

    state = State(tmp_path / "s")
    state.record_created("lab-a", context="kind-lab-a", server="https://127.0.0.1:1", kubeconfig="k")
    state.record_applied("kind-lab-a", "lab-a",
                         [("networking.istio.io/v1", "DestinationRule"), ("v1", "Pod")])
    state.record_applied("kind-lab-a", "lab-a", [("v1", "Pod")])
    again = State(tmp_path / "s")
    assert again.created("lab-a")["server"] == "https://127.0.0.1:1"
    assert again.created("lab-b") is None
    assert again.applied_kinds("kind-lab-a", "lab-a") == [("networking.istio.io/v1", "DestinationRule"),
                                                          ("v1", "Pod")]
    again.forget("lab-a")
    assert State(tmp_path / "s").created("lab-a") is None
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["state.json"]  # no temp file left


def test_a_damaged_state_file_is_an_error_not_an_empty_record(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "state.json").write_text("{not json")
    with pytest.raises(lablib.BackendError,
                       match=r"state.json: cannot read the lab's state .*fix or remove the file"):
        State(tmp_path / "s")


def test_state_file_is_json_a_user_can_read(tmp_path):
    state = State(tmp_path)
    state.record_created("istio-cb-lab", context="kind-istio-cb-lab", server="https://127.0.0.1:5",
                         kubeconfig="/x/kubeconfig")
    data = json.loads((tmp_path / "state.json").read_text())
    assert data["clusters"]["istio-cb-lab"]["context"] == "kind-istio-cb-lab"
