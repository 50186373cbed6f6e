"""The cluster backend's student text in Chinese, against the real kube-apiserver 1.20 of this tier
(conftest.control_plane): the context guard, objects the server rejects, a readiness wait that runs out, and
the progress of an apply render in Chinese (``in_lang("zh")``, ``render(m, "zh")``) with the names, paths and
the server's own words kept; ``str()`` stays the English text the other tests assert on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import lablib
from lablib._exceptions import LabWarning
from lablib.backends.kind import KindBackend
from lablib.i18n import Msg, render
from tests.apiserver.envtest import ControlPlane
from tests.support import CJK

REPO = Path(__file__).resolve().parents[2]
SERVICE_GO = REPO / "manifests/service/go/service-go.yaml"
VS = REPO / "manifests/istio/route/virtual-service-go.yaml"
DR = REPO / "manifests/istio/resilience/destination-rule-go-cb.yaml"


def service(name: str, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                     **spec}}


def write_yaml(path: Path, *docs: dict) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_the_context_guard_in_chinese(control_plane: ControlPlane, lab_home: Path):
    kb = KindBackend(name="guarded-zh", context=control_plane.outsider_context,
                     kubeconfig=control_plane.kubeconfig, progress=lambda *a: None)
    with pytest.raises(lablib.ClusterSafetyError) as err:
        kb.apply(VS)
    kb.close()
    english, chinese = str(err.value), err.value.in_lang("zh")
    assert re.match(r"refusing to touch Kubernetes context 'envtest-outsider' \(API server https://127\.0\.0\.1:"
                    r"\d+\): the lab only applies to", english)
    assert re.match(r"拒绝操作 Kubernetes 上下文 'envtest-outsider'（API server https://127\.0\.0\.1:\d+）：实验只会",
                    chinese)
    assert f"（记录在 {kb.state.path} 中）" in chinese
    assert ("请用 Lab(backend='kind', context='envtest-outsider', allow_contexts=['envtest-outsider']) 或 "
            "`export LABLIB_ALLOW_CONTEXTS=envtest-outsider` 允许它。") in chinese


def test_an_object_in_a_namespace_that_does_not_exist(make_backend, namespace: str, tmp_path: Path):
    lost = service("lost")
    lost["metadata"]["namespace"] = f"{namespace}-nowhere"
    path = write_yaml(tmp_path / "lost.yaml", lost)
    with pytest.raises(lablib.BackendError) as err:
        make_backend().apply(path)
    english, chinese = str(err.value), err.value.in_lang("zh")
    said = f'namespaces "{namespace}-nowhere" not found'  # the API server's own words, in both
    assert english == f"dry-run apply Service/lost: not found (HTTP 404: {said})"
    assert chinese == f"试运行（dry-run）应用 Service/lost：未找到（HTTP 404：{said}）"


def test_a_rejection_after_the_dry_run_and_its_roll_back(make_backend, control_plane: ControlPlane,
                                                         namespace: str, tmp_path: Path):
    """A 1.20 server's dry run accepts a clusterIP outside the service range; the real apply rejects it and
    what the apply did is undone: the cause and the roll-back, both in Chinese."""
    path = write_yaml(tmp_path / "two.yaml", service("first"), service("outside", clusterIP="10.0.0.10"))
    with pytest.raises(lablib.BackendError) as err:
        make_backend().apply(path)
    english, chinese = str(err.value), err.value.in_lang("zh")
    cause, _, rest = english.partition("\n")
    assert cause.startswith("apply Service/outside: the API server rejected the object (HTTP 422: ")
    assert rest == "Nothing was applied (rolled back Service/first)."
    said = cause.split("(HTTP 422: ", 1)[1][:-1]
    assert "10.0.0.10" in said
    assert chinese == (f"应用 Service/outside：API server 拒绝了该对象（HTTP 422：{said}）\n"
                       "没有应用任何内容（已回滚 Service/first）。")
    assert control_plane.get(f"/api/v1/namespaces/{namespace}/services/first") is None


def test_the_progress_of_an_apply_in_chinese(make_backend, control_plane: ControlPlane, namespace: str):
    seen: list[str] = []
    kb = make_backend(progress=lambda done, total, message: seen.append(message))
    with pytest.warns(LabWarning):  # no istiod here: its version cannot be read
        assert kb.apply(DR) == ["DestinationRule/service-go"]
    assert all(isinstance(m, str) for m in seen)
    msgs = [m for m in seen if isinstance(m, Msg)]
    by_key = {m.key: m for m in msgs}
    assert [str(by_key[k]) for k in ("kind.backend.connected", "kind.backend.creating_namespace",
                                     "kind.backend.ready", "kind.backend.applied")] == [
        f"connected to {control_plane.context} ({kb._kube.ctx.server})",
        f"creating namespace {namespace} with istio-injection=enabled",
        f"ready: context {control_plane.context}, namespace {namespace}",
        "DestinationRule/service-go serverside-applied"]
    assert [render(by_key[k], "zh") for k in ("kind.backend.connected", "kind.backend.creating_namespace",
                                              "kind.backend.ready", "kind.backend.applied")] == [
        f"已连接到 {control_plane.context}（{kb._kube.ctx.server}）",
        f"正在创建命名空间 {namespace} 并加上 istio-injection=enabled",
        f"就绪：上下文 {control_plane.context}，命名空间 {namespace}",
        "DestinationRule/service-go 已通过服务端应用（serverside-applied）"]
    assert all(CJK.search(render(m, "zh")) for m in msgs)
    # The istiod warning's first line is a progress line too, in the language the warning is in.
    first = [m for m in seen if not isinstance(m, Msg) and hasattr(m, "in_lang")]
    assert len(first) == 1 and "\n" not in render(first[0], "zh")


def test_a_readiness_wait_that_runs_out(make_backend, namespace: str):
    """No kubelet runs here, so the Deployments' pods never become ready."""
    seen: list[str] = []
    kb = make_backend(progress=lambda done, total, message: seen.append(message),
                      timeouts={"ready": 2.0, "admin": 20.0})
    with pytest.raises(lablib.BackendError) as err:
        kb.apply(SERVICE_GO)
    assert str(err.value) == "applied workloads ready: timed out (not applied workloads ready after 2 s)"
    assert err.value.in_lang("zh") == "已应用的工作负载就绪：超时（2 秒后仍未达到：已应用的工作负载就绪）"
    waiting = [m for m in seen if getattr(m, "key", "") == "kind.backend.waiting_for"]
    assert waiting and str(waiting[-1]) == "waiting for Deployment/service-go-v1, Deployment/service-go-v2"
    assert render(waiting[-1], "zh") == "正在等待 Deployment/service-go-v1、Deployment/service-go-v2"
