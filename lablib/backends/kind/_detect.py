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

from lablib.i18n import Msg

__all__ = ["INSTALL_HINTS", "Detection", "detect"]

#: How long one probe may take; ``docker info`` can hang on an unreachable DOCKER_HOST.
PROBE_TIMEOUT_S = 15.0

#: What to do when a tool is missing, by executable name. Versions are the ones this backend was written for.
#: Each is a ``Msg``: English as a ``str``, in the notebook's language where it is shown.
INSTALL_HINTS: dict[str, str] = {
    "docker": Msg("kind.detect.hint.docker"),
    "daemon": Msg("kind.detect.hint.daemon"),
    "kind": Msg("kind.detect.hint.kind"),
    "istioctl": Msg("kind.detect.hint.istioctl"),
    "kubectl": Msg("kind.detect.hint.kubectl"),
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
        return False, Msg("kind.detect.probe_timeout", command=shown, timeout=PROBE_TIMEOUT_S)
    except OSError as exc:  # found by which() but not executable, wrong architecture, …
        return False, Msg("kind.detect.probe_cannot_run", command=shown, error=str(exc.strerror or exc))
    text = (proc.stderr.strip() or proc.stdout.strip()) if proc.returncode else proc.stdout.strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if proc.returncode:
        return False, first or Msg("kind.detect.probe_status", command=shown, code=proc.returncode)
    return True, first


def _joined(parts: list[Msg]) -> Msg:
    """``a; b; c`` in any language: each part joined to the rest by ``kind.detect.joined``."""
    joined = parts[-1]
    for part in reversed(parts[:-1]):
        joined = Msg("kind.detect.joined", first=part, rest=joined)
    return joined


def detect(*, require_istioctl: bool = True) -> Detection:
    """Look for docker (and a daemon that answers), kind and istioctl; say what is missing and how to get it.

    ``require_istioctl=False`` is for pointing the lab at a cluster where Istio is already installed.

    >>> d = detect()
    >>> d.usable or print(d.reason)  # doctest: +SKIP
    """
    missing: list[Msg] = []
    docker_path = shutil.which("docker")
    daemon = False
    if docker_path is None:
        missing.append(Msg("kind.detect.not_on_path", tool="docker", hint=INSTALL_HINTS["docker"]))
    else:
        daemon, said = _probe([docker_path, "info", "--format", "{{.ServerVersion}}"])
        if daemon and not said:  # an old client may print nothing when the server part is missing
            daemon, said = False, Msg("kind.detect.no_server_version")
        if not daemon:
            missing.append(Msg("kind.detect.no_daemon", said=said, hint=INSTALL_HINTS["daemon"]))

    kind_path = shutil.which("kind")
    kind = False
    if kind_path is None:
        missing.append(Msg("kind.detect.not_on_path", tool="kind", hint=INSTALL_HINTS["kind"]))
    else:
        kind, said = _probe([kind_path, "version"])
        if not kind:
            missing.append(Msg("kind.detect.probe_failed", command="kind version", said=said,
                               hint=INSTALL_HINTS["kind"]))

    istioctl_path = shutil.which("istioctl")
    istioctl = False
    if istioctl_path is None:
        if require_istioctl:
            missing.append(Msg("kind.detect.not_on_path", tool="istioctl", hint=INSTALL_HINTS["istioctl"]))
    else:
        istioctl, said = _probe([istioctl_path, "version", "--remote=false"])
        if not istioctl and require_istioctl:
            missing.append(Msg("kind.detect.probe_failed", command="istioctl version --remote=false",
                               said=said, hint=INSTALL_HINTS["istioctl"]))

    usable = not missing
    reason = "" if usable else Msg("kind.detect.unavailable", missing=_joined(missing))
    return Detection(usable=usable, reason=reason, docker=docker_path is not None, daemon=daemon, kind=kind,
                     istioctl=istioctl)
