"""Read manifest files into Manifests, validate them (each object, then across objects) and load them."""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lablib._exceptions import LabWarning, ValidationFailed
from lablib._types import PathLike
from lablib.i18n import Msg
from lablib.manifests._checks import check_objects
from lablib.manifests._limits import MAX_FILE_BYTES
from lablib.manifests._problem import Problem
from lablib.manifests._schema import validate_manifest
from lablib.manifests._yaml import parse_yaml
from lablib.manifests.objects import Manifest, Source, as_manifest

__all__ = ["load_file", "load_files", "read_file", "validate_files", "warn"]

Context = Iterable[Manifest | Mapping[str, Any]]


def read_file(path: PathLike) -> tuple[list[Manifest], list[Problem]]:
    """Parse one file and check each object on its own; no cross-object checks, never raises for bad input.

    A missing or unreadable file is reported as an error Problem at line 0.
    """
    file = os.fspath(path)
    try:
        with open(file, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # never more: a 10 GB file or /dev/zero is refused, not read
    except OSError as exc:
        return [], [
            Problem(
                "error",
                file,
                0,
                Msg("manifests.load.cannot_read", why=_os_reason(exc)),
                fix=Msg("manifests.load.cannot_read_fix"),
            )
        ]
    if len(data) > MAX_FILE_BYTES:
        return [], [_too_big(file)]
    try:
        text = data.decode("utf-8-sig")  # -sig: a BOM from Windows editors is not YAML
    except UnicodeDecodeError as exc:
        return [], [
            Problem("error", file, 1, Msg("manifests.load.not_utf8", reason=exc.reason),
                    fix=Msg("manifests.load.not_utf8_fix"))
        ]
    return parse_manifests(text, file)


def parse_manifests(text: str, file: str = "<string>") -> tuple[list[Manifest], list[Problem]]:
    """Like ``read_file`` for text already in memory (``file`` names it in problems)."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return [], [_too_big(file)]
    documents, problems = parse_yaml(text, file)
    manifests: list[Manifest] = []
    for doc in documents:
        if not isinstance(doc.data, dict):
            problems.append(
                Problem(
                    "error",
                    file,
                    doc.line,
                    Msg("manifests.load.not_mapping"),
                    fix=Msg("manifests.load.not_mapping_fix"),
                )
            )
            continue
        body: dict[str, Any] = doc.data
        meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        m = Manifest(
            api_version=str(body.get("apiVersion") or ""),
            kind=str(body.get("kind") or ""),
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or "default"),
            body=body,
            source=Source(file, doc.line),
            positions=doc.positions,
        )
        found = validate_manifest(m)
        m.errors = sum(p.is_error for p in found)
        problems += found
        manifests.append(m)
    return manifests, problems


def _os_reason(exc: OSError) -> object:
    """Why the OS could not open the file: its own words (``strerror``), said in the notebook's language for
    the usual causes (in English exactly as the OS says them)."""
    strerror = exc.strerror
    if exc.errno == errno.ENOENT:
        return Msg("manifests.load.no_such_file", strerror=strerror)
    if exc.errno == errno.EACCES:
        return Msg("manifests.load.permission_denied", strerror=strerror)
    if exc.errno == errno.EISDIR:
        return Msg("manifests.load.is_a_directory", strerror=strerror)
    return strerror


def _too_big(file: str) -> Problem:
    return Problem(
        "error",
        file,
        1,
        Msg("manifests.load.too_big", kib=MAX_FILE_BYTES // 1024),
        fix=Msg("manifests.load.too_big_fix"),
    )


def _validate(
    paths: Sequence[PathLike], context: Context, cross_checks: bool = True
) -> tuple[list[Manifest], list[Problem]]:
    manifests: list[Manifest] = []
    problems: list[Problem] = []
    order: dict[str, int] = {}
    for path in paths:
        found, file_problems = read_file(path)
        order.setdefault(os.fspath(path), len(order))
        manifests += found
        problems += file_problems
    if cross_checks:
        # Only objects valid on their own are compared with the others: the rest already has its errors,
        # and a rule reading `subsets: 7` as a list would crash.
        valid = [m for m in manifests if not m.errors]
        problems += check_objects(valid, [as_manifest(m) for m in context])
    # Stable: per file in the order given, by line; problems at the same line keep their order.
    problems.sort(key=lambda p: (order.get(p.file, len(order)), p.line))
    return manifests, problems


def validate_files(
    paths: Iterable[PathLike], *, context: Context = (), cross_checks: bool = True
) -> list[Problem]:
    """Every problem of ``paths`` (errors and warnings), cross-object checks included (with ``context``).

    ``context`` holds the objects already applied (Manifests or plain dicts), e.g. the lab's current state.
    ``cross_checks=False`` checks each object on its own only (syntax, fields, types, ranges): what deleting
    needs, since a route file may be deleted after the rule that defines its subsets.
    """
    return _validate(list(paths), context, cross_checks)[1]


def load_files(
    paths: Iterable[PathLike], *, context: Context = (), cross_checks: bool = True
) -> list[Manifest]:
    """Parse and validate ``paths`` together; return their objects in file order.

    ``context`` and ``cross_checks`` are as in ``validate_files`` (``cross_checks=False`` for ``delete -f``).

    Raises:
        ValidationFailed: any file has an error; ``.problems`` holds every problem. Nothing is returned, so a
            set of files with an error applies nothing. Warnings do not raise (see ``validate_files``).
    """
    manifests, problems = _validate(list(paths), context, cross_checks)
    if any(p.is_error for p in problems):
        raise ValidationFailed(problems)
    warn(problems)
    return manifests


def warn(problems: Iterable[Problem]) -> None:
    """Issue each warning Problem as a ``LabWarning`` at its manifest's FILE:LINE (``warn_explicit``).

    That is how warnings reach whoever loads (``kubectl apply`` prints the API server's warnings too): a
    notebook shows them under the cell with the YAML line; the CLI prints ``Warning: FILE:LINE: …`` on stderr.
    """
    for p in problems:
        if not p.is_error:
            # module=file: a warning per manifest line, not per line of lablib (shown every time it applies)
            warnings.warn_explicit(LabWarning(_WarningText(p)), LabWarning, p.file, p.line, module=p.file,
                                   registry={})


class _WarningText(str):
    """A warning Problem's ``text`` that a notebook can show in its own language (``LabWarning.in_lang``)."""

    def __new__(cls, problem: Problem) -> _WarningText:
        self = super().__new__(cls, problem.text)
        self.problem = problem
        return self

    def in_lang(self, lang: str) -> str:
        return self.problem.text_in(lang)


def load_file(path: PathLike, *, context: Context = (), cross_checks: bool = True) -> list[Manifest]:
    """Parse and validate one file (against ``context``, the objects already applied); see ``load_files``."""
    return load_files([path], context=context, cross_checks=cross_checks)
