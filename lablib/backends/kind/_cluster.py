"""Cluster set-up: the lab's own kind cluster (create or reuse, delete), Istio (check, ``istioctl install``,
the 1.30 pin) and the lab's images (``docker build`` service-go, ``kind load`` them with fortio's).

The commands are planned by ``_plan`` (pure) and run by ``_exec.run_cli``; every failure passes through
``_map_errors``. Which context may be touched is not decided here: ``start_own_cluster`` takes ``connect``,
the backend's checked connection (``_safety``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lablib._exceptions import BackendUnavailable
from lablib.backends.kind import _plan as plan
from lablib.backends.kind._api import wait_until
from lablib.backends.kind._detect import INSTALL_HINTS, detect
from lablib.backends.kind._errors import _map_errors
from lablib.backends.kind._exec import run_cli
from lablib.backends.kind._state import State
from lablib.i18n import Joined, Msg
from lablib.lab_defaults import MANIFESTS

if TYPE_CHECKING:
    from lablib.backends.base import ProgressCallback
    from lablib.backends.kind._api import KubeApi

__all__ = ["DEFAULT_TIMEOUTS", "KindCluster", "istiod_ready", "istiod_version", "repo_root", "require_istio",
           "start_own_cluster", "warn_if_istio_is_not_the_pin"]

#: Seconds allowed for each slow step. kind and istioctl wait themselves; these bound them.
DEFAULT_TIMEOUTS: dict[str, float] = {
    "create": 600.0,      # kind create cluster --wait 180s, plus pulling the node image the first time
    "istio": 600.0,       # istioctl install waits for istiod
    "image": 900.0,       # docker build (pip-free, but python:3.12-slim may need pulling) and kind load
    "ready": 300.0,       # applied Deployments/Pods ready (images are local: pull policy IfNotPresent)
    "exec": 900.0,        # one fortio load run
    "admin": 60.0,        # one pilot-agent request
}


def repo_root() -> Path:
    """The checkout this lablib comes from (the Dockerfile's build context for the service-go image);
    ``$LABLIB_REPO`` overrides it when lablib is installed outside its checkout."""
    override = os.environ.get("LABLIB_REPO")
    root = Path(override).expanduser() if override else Path(__file__).resolve().parents[3]
    if not (root / "manifests" / "kind" / "cluster.yaml").is_file():
        raise BackendUnavailable(Msg("kind.backend.not_a_checkout", root=root))
    return root


@dataclass(frozen=True)
class KindCluster:
    """The lab's own kind cluster ``name``: its kubeconfig lives in the lab's state directory, and the state
    file records that the lab created it (the only cluster ``delete`` removes)."""

    name: str
    state: State
    timeouts: Mapping[str, float]

    @property
    def kubeconfig(self) -> Path:
        return self.state.kubeconfig

    def exists(self) -> bool:
        """Whether ``kind get clusters`` lists it (False when kind itself is missing)."""
        if not shutil.which("kind"):
            return False
        with _map_errors("kind get clusters"):
            out = run_cli(["kind", "get", "clusters"], timeout=self.timeouts["admin"]).stdout
        names = [line.strip() for line in out.splitlines()]
        return self.name in [n for n in names if n and " " not in n]

    def export_kubeconfig(self) -> None:
        with _map_errors(f"kind export kubeconfig --name {self.name}"):
            run_cli(plan.kind_export_kubeconfig_command(self.name, self.kubeconfig),
                    timeout=self.timeouts["admin"])

    def create(self, on_line: Callable[[str], None], *, context: str) -> None:
        """``kind create cluster`` from ``manifests/kind/cluster.yaml``, then record it as the lab's own."""
        self.state.directory.mkdir(parents=True, exist_ok=True)
        config = MANIFESTS / "kind" / "cluster.yaml"  # shipped with the package: no checkout needed
        with _map_errors(f"kind create cluster --name {self.name}"):
            run_cli(plan.kind_create_command(self.name, config, self.kubeconfig),
                    timeout=self.timeouts["create"], on_line=on_line)
        # Record at once, before anything else can fail: this cluster is the lab's to delete.
        self.state.record_created(self.name, context=context, server="", kubeconfig=str(self.kubeconfig))

    def install_istio(self, kube: KubeApi, say: ProgressCallback, *, profile: str, step: int,
                      steps: int) -> None:
        """``istioctl install`` (profile ``profile``) when istiod is not ready, then wait until it is."""
        if istiod_ready(kube):
            return
        say(step, steps, Msg("kind.backend.installing_istio", profile=profile))
        with _map_errors("istioctl install"):
            run_cli(plan.istioctl_install_command(self.kubeconfig, kube.ctx.name, profile=profile),
                    timeout=self.timeouts["istio"], on_line=lambda line: say(step, steps, line))
        wait_until(lambda: istiod_ready(kube), Msg("kind.backend.istiod_ready"), self.timeouts["istio"])

    def load_images(self, say: ProgressCallback, *, step: int, steps: int) -> None:
        """Build service-go v1 and v2, pull fortio, and ``kind load`` them into the cluster's node."""
        root = repo_root()
        images = []
        for version in ("v1", "v2"):
            say(step, steps, f"docker build {plan.service_go_image(version)}")
            with _map_errors(Msg("kind.backend.building", image=plan.service_go_image(version))):
                run_cli(plan.docker_build_command(version, root), timeout=self.timeouts["image"],
                        on_line=lambda line: say(step, steps, line))
            images.append(plan.service_go_image(version))
        try:
            with _map_errors(f"docker pull {plan.FORTIO_IMAGE}"):
                run_cli(["docker", "pull", plan.FORTIO_IMAGE], timeout=self.timeouts["image"])
            images.append(plan.FORTIO_IMAGE)
        except Exception as exc:  # the node can still pull it itself when it has a route to the registry
            say(step, steps, Msg("kind.backend.pull_failed", image=plan.FORTIO_IMAGE, error=exc))
        for image in images:
            say(step, steps, f"kind load docker-image {image}")
            with _map_errors(f"kind load docker-image {image}"):
                run_cli(plan.kind_load_command(image, self.name), timeout=self.timeouts["image"])

    def delete(self, say: ProgressCallback) -> None:
        """``kind delete cluster`` and forget the record (the caller checked the lab created it)."""
        say(0, 1, f"kind delete cluster --name {self.name}")
        with _map_errors(f"kind delete cluster --name {self.name}"):
            run_cli(plan.kind_delete_command(self.name, self.kubeconfig), timeout=self.timeouts["create"])
        self.state.forget(self.name)
        say(1, 1, Msg("kind.backend.deleted_cluster", name=self.name))


def start_own_cluster(cluster: KindCluster, connect: Callable[[], KubeApi], say: ProgressCallback, *,
                      istio_profile: str, build_images: bool) -> KubeApi:
    """Create or reuse the lab's kind cluster, connect (``connect`` checks the context), install Istio when
    missing and load the images. Returns the connection."""
    found = detect(require_istioctl=True)
    if not found.usable:
        raise BackendUnavailable(Msg("kind.backend.unavailable", reason=found.reason))
    steps = 5
    say(0, steps, Msg("kind.backend.looking_for_cluster", name=cluster.name))
    if cluster.exists():
        say(1, steps, Msg("kind.backend.reusing_cluster", name=cluster.name))
        cluster.export_kubeconfig()
    else:
        say(1, steps, Msg("kind.backend.creating_cluster", name=cluster.name))
        cluster.create(lambda line: say(1, steps, line), context=f"kind-{cluster.name}")
    kube = connect()  # fills in the API server kind chose
    say(2, steps, Msg("kind.backend.checking_istio"))
    cluster.install_istio(kube, say, profile=istio_profile, step=2, steps=steps)
    if build_images:
        say(3, steps, Msg("kind.backend.building_images"))
        cluster.load_images(say, step=3, steps=steps)
    say(4, steps, Msg("kind.backend.cluster_ready"))
    return kube


# -- Istio on the cluster ------------------------------------------------------------------------------------
def istiod_ready(kube: KubeApi) -> bool:
    body = kube.istiod(missing=(404,))
    return body is not None and plan.is_ready(body)


def istiod_version(kube: KubeApi) -> str | None:
    """istiod's version, from the image tag of ``istio-system/istiod`` (``…/pilot:1.30.0``); None when
    there is none or this user may not read it."""
    body = kube.istiod(missing=(403, 404))
    if body is None:
        return None
    containers = ((body.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    images = [str(c.get("image") or "") for c in containers]
    tags = [i.rpartition(":")[2] for i in images if ":" in i.rpartition("/")[2]]
    return tags[0] if tags else None


def require_istio(kube: KubeApi) -> None:
    """An existing cluster must already run Istio: its DestinationRule kind must be served."""
    if kube.preferred("networking.istio.io", "DestinationRule") is None:
        raise BackendUnavailable(Msg("kind.backend.no_istio", context=kube.ctx.name,
                                     hint=INSTALL_HINTS["istioctl"]))


def warn_if_istio_is_not_the_pin(kube: KubeApi, say: ProgressCallback) -> None:
    """The lab shows what Istio 1.30 configures: say so when this cluster's istiod is another release."""
    import warnings

    from lablib._exceptions import LabWarning
    from lablib.translate.version import istiod_version_warning

    message = istiod_version_warning(istiod_version(kube))
    if message:
        say(2, 4, Joined([message], first_line=True))
        warnings.warn(message, LabWarning, stacklevel=3)
