"""The cluster backend's errors, detection reasons and progress in Chinese (``in_lang("zh")``), from real
exceptions, real subprocesses and real files; ``str()`` stays the English text the other tests assert on.
The same against a real API server: tests/apiserver/test_kind_zh.py."""

from __future__ import annotations

import json
import warnings

import pytest
from kubernetes.client.exceptions import ApiException

import lablib
from lablib._exceptions import LabWarning
from lablib.backends.config_view import config_dump_resource
from lablib.backends.kind import KindBackend, State, detect
from lablib.backends.kind._errors import _map_errors
from lablib.backends.kind._exec import run_cli
from lablib.backends.kind._plan import check_lab_name, fortio_command
from lablib.i18n import Joined, Msg, render
from tests.support import CJK


def zh(err: BaseException) -> str:
    text = err.in_lang("zh")  # type: ignore[attr-defined]
    assert CJK.search(text), text
    return text


def test_detection_reason_names_every_missing_tool_in_chinese(tool_dir):
    found = detect()
    reason = render(found.reason, "zh")
    assert str(found.reason).startswith("kind backend unavailable: `docker` is not on PATH: install Docker")
    assert reason.startswith("kind 后端不可用：`docker` 不在 PATH 中：请安装 Docker Engine >= 20.10")
    for tool in ("`kind` 不在 PATH 中", "`istioctl` 不在 PATH 中", "https://istio.io/downloadIstio"):
        assert tool in reason
    assert reason.count("；此外，") == 2 and "is not on PATH" not in reason


def test_a_daemon_that_is_down_keeps_dockers_own_words(tool_dir):
    tool_dir.add("docker", "daemon-down")
    tool_dir.add("kind", "ok")
    tool_dir.add("istioctl", "ok")
    reason = render(detect().reason, "zh")
    assert reason.startswith("kind 后端不可用：无法连接 Docker 守护进程（Cannot connect to the Docker daemon "
                             "at unix:///var/run/docker.sock. Is the docker daemon running?）：请启动")


def test_a_missing_cli_and_a_failing_cli(tmp_path, monkeypatch):
    with pytest.raises(lablib.BackendError) as failed, _map_errors("istioctl install"):
        run_cli(["sh", "-c", "echo step one; echo 'Error: failed to install' >&2; exit 3"], timeout=10)
    assert str(failed.value).startswith("istioctl install: `sh -c echo step one;")
    assert "exited with status 3:\nstep one\nError: failed to install" in str(failed.value)
    assert "退出，状态码为 3：\nstep one\nError: failed to install" in zh(failed.value)  # its words stay
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(lablib.BackendUnavailable) as missing, _map_errors("kind get clusters"):
        run_cli(["kind", "get", "clusters"], timeout=5)
    assert "kind get clusters: `kind` is not on PATH; install kind >= v0.20" in str(missing.value)
    assert zh(missing.value).startswith("kind get clusters：`kind` 不在 PATH 中；请安装 kind >= v0.20")


def test_api_errors_keep_the_servers_message():
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = json.dumps({"kind": "Status", "message": 'Service "x" is invalid: spec.ports: Required value'})
    what = Msg("kind.backend.dry_run_apply", ref="Service/x")
    with pytest.raises(lablib.BackendError) as err, _map_errors(what):
        raise exc
    assert str(err.value) == ('dry-run apply Service/x: the API server rejected the object (HTTP 422: '
                              'Service "x" is invalid: spec.ports: Required value)')
    assert zh(err.value) == ('试运行（dry-run）应用 Service/x：API server 拒绝了该对象（HTTP 422：'
                             'Service "x" is invalid: spec.ports: Required value）')


def test_a_timeout_of_the_lab_says_what_it_waited_for():
    what = Msg("kind.backend.workloads_ready")
    with pytest.raises(lablib.BackendError) as err, _map_errors(what):
        raise TimeoutError(Msg("kind.backend.wait_timeout", what=what, timeout=2.5))
    assert str(err.value) == "applied workloads ready: timed out (not applied workloads ready after 2.5 s)"
    assert zh(err.value) == "已应用的工作负载就绪：超时（2.5 秒后仍未达到：已应用的工作负载就绪）"


def test_a_damaged_state_file(tmp_path):
    (tmp_path / "state.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(lablib.BackendError) as err:
        State(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'state.json'}: cannot read the lab's state (")
    assert zh(err.value).startswith(f"{tmp_path / 'state.json'}：无法读取实验的状态记录（")


def test_plan_errors(tmp_path):
    with pytest.raises(lablib.LabError) as name:
        check_lab_name("Istio_Lab")
    assert str(name.value).startswith("lab name 'Istio_Lab' must be a lowercase DNS label")
    assert zh(name.value).startswith("实验名 'Istio_Lab' 必须是小写的 DNS 标签")
    with pytest.raises(lablib.FortioUsageError) as usage:
        fortio_command("-c 2 -n 10 http://a http://b")
    assert str(usage.value).endswith("(got 'http://a http://b')")
    assert zh(usage.value).endswith("（实际得到 'http://a http://b'）")
    with pytest.raises(lablib.FortioUsageError) as none:
        fortio_command("-c 2")
    assert zh(none.value).endswith("（实际一个也没有）")
    with pytest.raises(lablib.LabError) as what:
        config_dump_resource("endpoints")
    assert str(what.value) == "proxy-config 'endpoints': use one of cluster, route, listener, secret"
    assert zh(what.value) == "proxy-config 'endpoints'：请使用以下之一：cluster、route、listener、secret"


def test_a_kind_cluster_the_lab_did_not_create_is_refused_before_any_request(tmp_path, write_kubeconfig):
    """kind lists the cluster and the lab's kubeconfig names it, but the state file has no record of creating
    it (the path ``cleanup()`` and ``start()`` take when ``kind get clusters`` lists it)."""
    write_kubeconfig({"kind-mine": "https://127.0.0.1:1"}, current="kind-mine")
    kb = KindBackend(name="mine", state_dir=tmp_path, progress=lambda *a: None)
    with pytest.raises(lablib.ClusterSafetyError) as err:
        kb._connect(lambda *a: None, reused=True)
    english, chinese = str(err.value), zh(err.value)
    assert english.startswith("kind cluster 'mine' exists but the lab has no record of creating it (")
    assert "\nrefusing to touch Kubernetes context 'kind-mine' (API server https://127.0.0.1:1)" in english
    assert chinese.startswith("kind 集群 'mine' 已存在，但实验没有创建它的记录（")
    assert "`kind delete cluster --name mine`" in chinese
    assert "\n拒绝操作 Kubernetes 上下文 'kind-mine'（API server https://127.0.0.1:1）" in chinese
    assert "`export LABLIB_ALLOW_CONTEXTS=kind-mine` 允许它" in chinese
    kb.close()


def test_a_warnings_first_line_is_a_progress_line_in_either_language():
    message = Msg("kind.backend.unrecorded_cluster", name="lab", path="/s", context="kind-lab",
                  error=lablib.ClusterSafetyError(Msg("kind.safety.no_current_context", path="/k")))
    line = Joined([message], first_line=True)
    assert line == str(message).splitlines()[0] and "\n" not in line
    assert render(line, "zh") == render(message, "zh").splitlines()[0]
    assert render(line, "zh").startswith("kind 集群 'lab' 已存在") and "\n" not in render(line, "zh")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.warn(message, LabWarning, stacklevel=1)
    assert seen[0].message.in_lang("zh").endswith("kubeconfig /k 没有 current-context；请传入 context=NAME")
