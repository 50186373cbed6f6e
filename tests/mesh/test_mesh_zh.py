"""The embedded mesh speaks the notebook's language: its progress messages, the events it reports on its own,
and the errors of a dead pod or a rejected config are ``Msg``s that render in Chinese, while ``str()`` stays
the English text it always was. Real labs, real Envoys, real signals."""

from __future__ import annotations

import os
import signal

import pytest
from mesh_helpers import destination_rule_yaml, service_go_yaml

from lablib import EnvoyError, LabError, LabNotRunning
from lablib.backends.mesh import MeshBackend
from lablib.backends.mesh._health import how_it_ended
from lablib.i18n import Msg, render
from tests.mesh.test_all_or_nothing import _poison
from tests.support import CJK

URL = "http://service-go/env"


def _chinese(text: str) -> bool:
    return bool(CJK.search(text))


def test_how_a_process_ended_is_told_in_both_languages():
    killed = how_it_ended(-signal.SIGKILL)
    assert killed == "was killed by SIGKILL" and render(killed, "zh") == "被 SIGKILL 杀死"
    assert render(how_it_ended(3), "zh") == "已退出，退出码 3" and how_it_ended(3) == "exited with code 3"
    assert _chinese(render(how_it_ended(None), "zh"))


def test_attaching_to_no_lab_says_so_in_chinese(lab_home):
    with pytest.raises(LabNotRunning) as err:
        MeshBackend("nolab", attach_only=True, home=lab_home)
    assert str(err.value).startswith("no embedded lab 'nolab' is running")
    zh = err.value.in_lang("zh")
    assert _chinese(zh) and "'nolab'" in zh and "python -m lablib apply -f FILE" in zh


@pytest.mark.envoy
def test_progress_events_and_a_killed_sidecar_render_in_chinese(make_mesh, write):
    said: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        said.append(message)

    mesh = make_mesh(progress=progress)
    svc = write("service-go.yaml", service_go_yaml(versions=("v1",)))
    mesh.apply(svc, progress=progress)
    assert said == ["starting the fortio pod's sidecar", "lab ready", "starting pod service-go-v1-0",
                    "pods ready"]
    assert all(isinstance(m, Msg) and _chinese(render(m, "zh")) for m in said), said
    assert render(said[2], "zh") == "正在启动 pod service-go-v1-0"

    record = next(r for r in mesh.pods()["service-go-v1-0"].procs if r.role == "sidecar")
    os.kill(record.pid, signal.SIGKILL)
    mesh._popens[record.pid].wait(timeout=10)
    with pytest.raises(LabError) as err:
        mesh.stats()
    assert "pod service-go-v1-0: its sidecar Envoy was killed by SIGKILL" in str(err.value)  # as before
    zh = err.value.in_lang("zh")
    assert _chinese(zh) and "service-go-v1-0" in zh and "被 SIGKILL 杀死" in zh, zh
    assert "pod(s)" not in zh and "its sidecar" not in zh, zh

    said.clear()
    mesh.apply(svc, progress=progress)
    event = next(m for m in said if "recreating" in m)
    assert event == "pod service-go-v1-0: its sidecar Envoy was killed by SIGKILL; recreating it"
    assert mesh.events[-1] == event
    zh = render(mesh.events[-1], "zh")
    assert zh == "pod service-go-v1-0 中，其 sidecar Envoy 被 SIGKILL 杀死；正在重新创建它", zh


@pytest.mark.envoy
def test_a_rejected_config_keeps_file_line_and_envoys_words_in_chinese(make_mesh, write, monkeypatch):
    victim = "service-go-v2-0"
    mesh = make_mesh()
    mesh.apply(write("service-go.yaml", service_go_yaml()))
    mesh.apply(write("dr5.yaml", destination_rule_yaml(max_connections=5)))
    _poison(monkeypatch, victim)
    dr10 = write("dr10.yaml", destination_rule_yaml(max_connections=10))
    with pytest.raises(EnvoyError) as err:
        mesh.apply(dr10)

    line = next(i for i, t in enumerate(dr10.read_text().splitlines(), 1) if "maxConnections" in t)
    where = f"{dr10}:{line}: DestinationRule/service-go: spec.trafficPolicy.connectionPool.tcp.maxConnections"
    english = str(err.value)
    assert f"{where}: the sidecar of pod {victim} rejected the clusters made from here" in english
    assert "nothing was applied: every sidecar still runs config version" in english
    assert "--- envoy said ---" in english and "not-an-ip" in english

    zh = err.value.in_lang("zh")
    assert f"{where}: pod {victim} 的 sidecar 拒绝了由此处生成的集群" in zh, zh
    assert "没有应用任何内容" in zh and "--- Envoy 的原话 ---" in zh, zh
    assert err.value.envoy_output and err.value.envoy_output in zh  # Envoy's own words, verbatim
    assert "not-an-ip" in zh and "nothing was applied" not in zh
