"""Can the cluster backend run here? Looks for the real ``docker``, ``kind`` and ``istioctl`` on ``PATH``.

Each tool is asked a harmless question (``docker info``, ``kind version``, ``istioctl version
--remote=false``)
through a real subprocess, so a broken install counts as missing. ``Lab(backend="auto")`` uses the answer to
fall
back to the embedded mesh; the ``cluster`` test marker uses ``reason`` as its skip message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["INSTALL_HINTS", "Detection", "detect"]

#: How long one probe may take; ``docker info`` can hang on an unreachable DOCKER_HOST.
PROBE_TIMEOUT_S = 15.0

#: What to do when a tool is missing, by executable name. Versions are the ones this backend was written for.
INSTALL_HINTS: dict[str, str] = {
    "docker": "install Docker Engine >= 20.10 (https://docs.docker.com/engine/install/)",
    "daemon": "start the Docker daemon (`sudo systemctl start docker`, or open Docker Desktop) and check "
              "`docker info` works for your user",
    "kind": "install kind >= v0.20 (`go install sigs.k8s.io/kind@v0.29.0`, or a release binary from "
            "https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
    "istioctl": "install istioctl >= 1.22 (`curl -L https://istio.io/downloadIstio | sh -` and put "
                "istio-*/bin on PATH, or `brew install istioctl`)",
    "kubectl": "install kubectl (optional: the lab talks to the API server through the kubernetes client)",
}


@dataclass(frozen=True)
class Detection:
    """What was found. ``usable`` is true when the kind backend can run; ``reason`` says why not, and how to
    fix."""

    usable: bool
    reason: str
    docker: bool
    daemon: bool
    kind: bool
    istioctl: bool

    def __bool__(self) -> bool:
        return self.usable


def _probe(argv: list[str]) -> tuple[bool, str]:
    """Run one probe; (succeeded, first line of what it said or why it failed)."""
    shown = " ".join([os.path.basename(argv[0]), *argv[1:]])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return False, f"`{shown}` did not answer within {PROBE_TIMEOUT_S:g} s"
    except OSError as exc:  # found by which() but not executable, wrong architecture, …
        return False, f"`{shown}` could not run: {exc.strerror or exc}"
    text = (proc.stderr.strip() or proc.stdout.strip()) if proc.returncode else proc.stdout.strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if proc.returncode:
        return False, first or f"`{shown}` exited with status {proc.returncode}"
    return True, first


def detect(*, require_istioctl: bool = True) -> Detection:
    """Look for docker (and a daemon that answers), kind and istioctl; say what is missing and how to get it.

    ``require_istioctl=False`` is for pointing the lab at a cluster where Istio is already installed.

    >>> d = detect()
    >>> d.usable or print(d.reason)  # doctest: +SKIP
    """
    missing: list[str] = []
    docker_path = shutil.which("docker")
    daemon = False
    if docker_path is None:
        missing.append(f"`docker` is not on PATH: {INSTALL_HINTS['docker']}")
    else:
        daemon, said = _probe([docker_path, "info", "--format", "{{.ServerVersion}}"])
        if daemon and not said:  # an old client may print nothing when the server part is missing
            daemon, said = False, "`docker info` reported no server version"
        if not daemon:
            missing.append(f"the Docker daemon is not reachable ({said}): {INSTALL_HINTS['daemon']}")

    kind_path = shutil.which("kind")
    kind = False
    if kind_path is None:
        missing.append(f"`kind` is not on PATH: {INSTALL_HINTS['kind']}")
    else:
        kind, said = _probe([kind_path, "version"])
        if not kind:
            missing.append(f"`kind version` failed ({said}): {INSTALL_HINTS['kind']}")

    istioctl_path = shutil.which("istioctl")
    istioctl = False
    if istioctl_path is None:
        if require_istioctl:
            missing.append(f"`istioctl` is not on PATH: {INSTALL_HINTS['istioctl']}")
    else:
        istioctl, said = _probe([istioctl_path, "version", "--remote=false"])
        if not istioctl and require_istioctl:
            missing.append(f"`istioctl version --remote=false` failed ({said}): {INSTALL_HINTS['istioctl']}")

    usable = not missing
    reason = "" if usable else "kind backend unavailable: " + "; ".join(missing)
    return Detection(usable=usable, reason=reason, docker=docker_path is not None, daemon=daemon, kind=kind,
                     istioctl=istioctl)
