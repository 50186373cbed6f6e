"""A real Envoy 1.40 serves its admin on an owner-only Unix socket (``admin.address.pipe`` with mode 0600),
even when the lab's directory is deeper than ``sun_path`` allows (108 bytes), and ``AdminClient`` speaks HTTP
over it."""

from __future__ import annotations

import json
import stat

import pytest

from lablib.envoy.bootstrap import ADMIN_SOCKET_MODE, admin_address
from lablib.envoy.process import admin_socket_name, start_envoy, wait_ready, with_kill

pytestmark = pytest.mark.envoy


def test_admin_on_a_0600_unix_socket_in_a_deep_directory(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    sock = deep / admin_socket_name("probe")
    assert len(str(sock)) > 108  # too long for sun_path: Envoy gets it relative to its working directory
    config = deep / "bootstrap.json"
    config.write_text(json.dumps({"admin": {"address": admin_address(admin_socket_name("probe"))}}))
    launch = start_envoy(config, workdir=deep, name="probe", workers=1)
    try:
        admin = wait_ready(launch, name="the probe Envoy")
        assert admin.socket_path == sock and admin.name == "the probe Envoy"
        mode = sock.stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == ADMIN_SOCKET_MODE == 0o600
        assert admin.stats("^server.live$") == {"server.live": 1}
        admin.reset_counters()
        assert admin.config_dump("dynamic_active_clusters") == []
    finally:
        with_kill(launch.popen)
