"""`make test` on a fresh machine: the system packages the tests need are installed when they can be, and
otherwise the run stops at once with the exact command to type (tools/system-deps.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "system-deps.sh"


def _path_without_the_packages(bin_dir: Path) -> str:
    """A PATH with the shell tools the script itself uses, and none of the packages it looks for."""
    for tool in ("bash", "id", "dirname", "sudo", "apt-get", "true"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run the script as a user without sudo (nobody)")
def test_without_root_or_sudo_it_stops_at_once_with_the_command_to_run():
    bin_dir = Path(tempfile.mkdtemp(prefix="lablib-path-"))  # under /tmp: nobody must reach it
    try:
        bin_dir.chmod(0o755)
        env = {"PATH": _path_without_the_packages(bin_dir), "HOME": "/nonexistent"}
        out = subprocess.run([shutil.which("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              "bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(bin_dir)
    assert out.returncode == 1
    assert "run:  sudo apt-get install -y --no-install-recommends chromium hey util-linux procps" \
        in out.stderr


def test_the_ci_runs_the_readmes_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "```bash\nmake test\n```" in readme
    # the test target's prerequisites or its first command (which makes them, two at a time)
    assert "system-deps" in "".join((REPO / "Makefile").read_text().split("\ntest:")[1].splitlines()[:2])
