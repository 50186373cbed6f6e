"""Helpers shared by several test areas (importable as ``tests.support``; pytest puts the repo on sys.path).

They look at the machine independently of lablib's own bookkeeping, so a test of cleanup is not checked by
the code it tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import socket
from pathlib import Path

import nbformat
import psutil

import lablib
from lablib import LabError

#: A Chinese (CJK unified) character: text that has one is in Chinese, not English that fell through.
CJK = re.compile(r"[\u4e00-\u9fff]")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then closed): for a server to start on, or
    for a connection that must be refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_under(home: Path) -> list[psutil.Process]:
    """Every live process whose command line or working directory is under ``home`` (a lab's ``LABLIB_HOME``:
    Envoys run on config files there, service-go processes run in its logs dir)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status", "cwd"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(home) in " ".join(p.info["cmdline"] or []) or str(home) in (p.info["cwd"] or ""):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def notebook_checks(nb: nbformat.NotebookNode) -> list[tuple[bool, str]]:
    """The check cells' verdicts in an executed notebook: (ok, html) for each rendered ``lablib-check``."""
    found = []
    for c in nb.cells:
        for out in c.get("outputs", []):
            html = (out.get("data") or {}).get("text/html", "")
            if "lablib-check" in html:
                found.append(("data-ok='true'" in html, html))
    return found


def lab_error_names() -> set[str]:
    """The class name of every ``LabError`` lablib defines, in any module (all of lablib is imported)."""
    for info in pkgutil.walk_packages(lablib.__path__, "lablib."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    names, todo = set(), [LabError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names
