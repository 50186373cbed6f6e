"""Detection: real subprocesses on a controlled PATH. The stand-in scripts print what the real tools print and
exit as they do; the real docker client installed here (no daemon) is the real "daemon down" case."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

import lablib
from lablib.backends.kind import INSTALL_HINTS, KindBackend, detect
from lablib.backends.kind import _detect as detect_module

REAL_DOCKER = shutil.which("docker")


def test_nothing_on_path_names_every_tool_and_how_to_get_it(tool_dir):
    found = detect()
    assert not found.usable and not found
    assert (found.docker, found.daemon, found.kind, found.istioctl) == (False, False, False, False)
    assert found.reason.startswith("kind backend unavailable: ")
    for tool in ("docker", "kind", "istioctl"):
        assert f"`{tool}` is not on PATH" in found.reason
        assert INSTALL_HINTS[tool] in found.reason
    assert tool_dir.called() == []  # nothing to run


@pytest.mark.skipif(REAL_DOCKER is None, reason="the docker client is not installed on this machine")
def test_real_docker_client_without_daemon(tool_dir):
    tool_dir.link("docker", REAL_DOCKER)
    tool_dir.add("kind", "ok")
    tool_dir.add("istioctl", "ok")
    daemon_up = subprocess.run([REAL_DOCKER, "info"], capture_output=True, timeout=30).returncode == 0
    found = detect()
    assert found.docker and found.kind and found.istioctl
    if daemon_up:  # a machine with Docker running: the same call says usable
        assert found.usable and found.daemon and found.reason == ""
        return
    assert not found.usable and not found.daemon
    # The real client's own words, then what to do about them.
    assert "Cannot connect to the Docker daemon" in found.reason
    assert INSTALL_HINTS["daemon"] in found.reason
    assert "`kind`" not in found.reason and "istioctl" not in found.reason  # those were fine


def test_daemon_down_message_is_the_clients(tool_dir):
    tool_dir.add("docker", "daemon-down")
    tool_dir.add("kind", "ok")
    tool_dir.add("istioctl", "ok")
    found = detect()
    assert (found.usable, found.docker, found.daemon) == (False, True, False)
    assert found.kind and found.istioctl
    assert "the Docker daemon is not reachable (Cannot connect to the Docker daemon at unix:///var/run/" \
           "docker.sock. Is the docker daemon running?)" in found.reason
    assert "docker info --format {{.ServerVersion}}" in tool_dir.called()[0]


def test_permission_denied_is_reported_not_hidden(tool_dir):
    tool_dir.add("docker", "permission-denied")
    tool_dir.add("kind", "ok")
    tool_dir.add("istioctl", "ok")
    found = detect()
    assert not found.daemon
    assert "permission denied while trying to connect to the Docker daemon socket" in found.reason


def test_kind_missing(tool_dir):
    tool_dir.add("docker", "daemon-up")
    tool_dir.add("istioctl", "ok")
    found = detect()
    assert (found.usable, found.daemon, found.kind) == (False, True, False)
    assert "`kind` is not on PATH" in found.reason and INSTALL_HINTS["kind"] in found.reason
    assert "docker" not in found.reason.replace("Docker", "")  # docker was fine: not mentioned


def test_kind_that_cannot_run_counts_as_missing(tool_dir):
    tool_dir.add("docker", "daemon-up")
    tool_dir.add("kind", "broken")
    tool_dir.add("istioctl", "ok")
    found = detect()
    assert not found.kind and not found.usable
    assert "`kind version` failed (kind: cannot execute binary file: Exec format error)" in found.reason


def test_istioctl_missing_is_required_unless_istio_is_already_there(tool_dir):
    tool_dir.add("docker", "daemon-up")
    tool_dir.add("kind", "ok")
    found = detect()
    assert (found.usable, found.istioctl) == (False, False)
    assert "`istioctl` is not on PATH" in found.reason and "downloadIstio" in found.reason
    relaxed = detect(require_istioctl=False)
    assert relaxed.usable and relaxed.reason == "" and not relaxed.istioctl


def test_everything_present(tool_dir):
    tool_dir.add("docker", "daemon-up")
    tool_dir.add("kind", "ok")
    tool_dir.add("istioctl", "ok")
    found = detect()
    assert found.usable and found.reason == ""
    assert (found.docker, found.daemon, found.kind, found.istioctl) == (True, True, True, True)
    called = tool_dir.called()
    assert any(c.startswith("kind version") for c in called)
    assert any(c.startswith("istioctl version --remote=false") for c in called)


def test_a_docker_that_hangs_times_out(tool_dir, monkeypatch):
    monkeypatch.setattr(detect_module, "PROBE_TIMEOUT_S", 0.5)
    tool_dir.add("docker", "hangs")
    tool_dir.add("kind", "ok")
    tool_dir.add("istioctl", "ok")
    t0 = time.monotonic()
    found = detect()
    assert time.monotonic() - t0 < 10
    assert not found.daemon and "did not answer within 0.5 s" in found.reason


def test_backend_start_refuses_with_the_reason_and_the_fallback(tool_dir, lab_home):
    tool_dir.add("docker", "daemon-down")
    backend = KindBackend(name="istio-cb-lab", progress=lambda *a: None)
    with pytest.raises(lablib.BackendUnavailable) as err:
        backend.start()
    text = str(err.value)
    assert "Cannot connect to the Docker daemon" in text and "`kind` is not on PATH" in text
    assert "backend='embedded'" in text
    assert not any(c.startswith("kind") for c in tool_dir.called())  # no cluster was created
    assert not (lab_home / "kind" / "state.json").exists()


def test_cleanup_without_kind_cluster_is_a_no_op(tool_dir, lab_home):
    messages = []
    KindBackend(progress=lambda d, t, m: messages.append(m)).cleanup(delete_cluster=True)
    assert messages == ["no kind cluster 'istio-cb-lab': nothing to clean up"]


def test_lab_auto_falls_back_to_embedded_when_kind_is_unusable(tool_dir, lab_home, monkeypatch):
    lab_module = pytest.importorskip("lablib.lab", reason="lablib.lab not written yet")
    monkeypatch.delenv("LABLIB_BACKEND", raising=False)
    tool_dir.add("docker", "daemon-down")
    tool_dir.add("kind", "ok")
    tool_dir.add("istioctl", "ok")
    backend, why = lab_module.choose_backend("auto")
    assert backend == "embedded"
    assert "Cannot connect to the Docker daemon" in why
    tool_dir.add_replacing("docker", "daemon-up")
    assert lab_module.choose_backend("auto")[0] == "kind"
