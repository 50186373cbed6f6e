"""The ``apiserver`` tier: the cluster backend against a real control plane (etcd + kube-apiserver +
kube-controller-manager 1.20.2 on 127.0.0.1, see ``envtest.py``), started once per session.

The binaries come from ``tools/apiserver/build.sh`` (run here when its cache is empty; ~15 min cold). The
session installs the lab's own Istio CRDs (``manifests/kind/istio-crds.yaml``) and an ``istio-system``
namespace. Each test gets its own namespace and lab name, so tests do not see each other's objects.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.envtest import ControlPlane, build_script, crd_manifest, find_binaries
from tests.kind.conftest import lab_home  # noqa: F401 - the same fixture: $LABLIB_HOME in tmp, no env allow-list

_counter = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.apiserver)


def _binaries() -> Path:
    found = find_binaries()
    if found is not None:
        return found
    if not shutil.which("apt-get"):
        pytest.skip("the apiserver tier builds kube-apiserver from Debian's source package and this machine "
                    "has no apt-get; on Debian/Ubuntu run tools/apiserver/build.sh")
    proc = subprocess.run(["bash", str(build_script())], capture_output=True, text=True, check=False)
    found = find_binaries()
    if proc.returncode or found is None:
        pytest.fail(f"tools/apiserver/build.sh failed (status {proc.returncode}):\n"
                    f"{(proc.stdout + proc.stderr)[-3000:]}")
    return found


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    plane = ControlPlane.start(_binaries())
    try:
        plane.apply_yaml(crd_manifest())
        for name in ("destinationrules", "virtualservices"):
            plane.wait_for(lambda n=name: _established(plane, n), f"CRD {name} established")
        plane.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n")
        # Pods need their namespace's default ServiceAccount (admission); the controller manager makes it.
        plane.wait_for(lambda: plane.get("/api/v1/namespaces/default/serviceaccounts/default"),
                       "default ServiceAccount created")
        yield plane
    finally:
        plane.stop()


def _established(plane: ControlPlane, plural: str) -> bool:
    crd = plane.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.networking.istio.io")
    conds = {c["type"]: c["status"] for c in ((crd or {}).get("status") or {}).get("conditions", [])}
    return conds.get("Established") == "True"


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace name for this test (not created: the lab creates it when it labels it)."""
    name = f"t{os.getpid() % 1000}-{next(_counter)}"
    yield name
    control_plane.delete_path(f"/api/v1/namespaces/{name}")


@pytest.fixture
def make_backend(control_plane: ControlPlane, namespace: str, request: pytest.FixtureRequest):
    """``make_backend(**overrides)``: a KindBackend on the envtest context, allowed, in this test's
    namespace."""
    from lablib.backends.kind import KindBackend

    home: Path = request.getfixturevalue("lab_home")
    made: list[KindBackend] = []

    def make(**overrides: object) -> KindBackend:
        options: dict = {"name": f"lab-{namespace}", "namespace": namespace,
                         "context": control_plane.context, "kubeconfig": control_plane.kubeconfig,
                         "allow_contexts": [control_plane.context], "progress": lambda *a: None,
                         "state_dir": home / "kind", "timeouts": {"ready": 60.0, "admin": 20.0}}
        options.update(overrides)
        kb = KindBackend(**options)  # type: ignore[arg-type]
        made.append(kb)
        return kb

    yield make
    for kb in made:
        kb.close()
