"""The claims register (issue 19): what the labs say about how Istio and Envoy behave, held to its evidence.

    .venv/bin/python tools/claims.py    # print every problem as FILE:LINE: message; exit 1 if there is one

``docs/claims.yaml`` lists each claim: ``id``, ``says`` (one line), ``holds_for`` ({istio, envoy} releases),
``evidence`` (``tests``: pytest node ids; ``source``: pinned citations {repo, ref, path, line, note}) and
``text`` (``cells``: ``<lab source stem>:<cell id>`` of the notebook cells that state it; ``catalogue``: the
run-time catalogue keys whose text states it). Its ``not_claims.catalogue`` lists the catalogue keys (fnmatch
patterns) of the checked areas that state nothing about Istio or Envoy (titles, labels, number formats).

A markdown cell of a lab source (``tools/notebooks/labNN.py``) that states a claim carries the ids on a line
of its own, ``<!-- claims: id other-id -->`` (an HTML comment: invisible in the rendered notebook); its
Chinese twin (the ``lang="zh"`` cell) carries exactly the same ids.

:func:`problems` is every way the text and the register disagree; tests/claims/test_register.py asserts there
is none. This module reads files only: no lablib import, so a broken lablib cannot hide a broken register.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
REGISTER = REPO / "docs" / "claims.yaml"
NOTEBOOKS = REPO / "tools" / "notebooks"
CATALOGUES = REPO / "lablib" / "i18n"

#: ``<!-- claims: a.b c-d -->`` on a line of its own
MARKER = re.compile(r"^[ \t]*<!--[ \t]*claims:(?P<ids>[^>]*?)-->[ \t]*$", re.MULTILINE)
_MARKER_START = re.compile(r"<!--\s*claims\b")
CLAIM_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9_]+)*$")
#: the catalogue areas whose every key states a claim or is listed under not_claims (the labs' run-time
#: explanations, check verdicts and "why" texts)
CHECKED_AREAS = ("lab01.explain.", "notebook.check.", "outlier.check.", "outlier.rule.why.",
                 "outlier.table.mapping.", "limits.check.", "limits.plot.", "lab02.check.", "lab02.why.",
                 "lab04.check.")
ENTRY_KEYS = {"id", "says", "holds_for", "evidence", "text"}
_EMPTY = ("", "~", "null")  # "claims:" with no entry yet
SOURCE_KEYS = ("repo", "ref", "path", "line")
_NODE = re.compile(r"^(?P<file>[^:]+\.py)::(?P<names>[^\[]+?)(?P<params>\[.*\])?$")


@dataclass
class Claim:
    id: str
    line: int
    says: str = ""
    holds_for: dict[str, str] = field(default_factory=dict)
    tests: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    catalogue: list[str] = field(default_factory=list)


@dataclass
class Register:
    path: Path
    claims: list[Claim]
    not_claims: list[str]
    problems: list[str]


@dataclass
class CellClaims:
    """The claim ids of one markdown cell, in each edition, and where the cell starts."""

    source: Path
    line: int
    ids: dict[str, list[str]]  # language -> ids in marker order
    malformed: list[str]  # languages with a "<!-- claims" that is not a marker on its own line


def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def load_register(path: Path = REGISTER) -> Register:
    """The register's entries with their lines, and the problems of its form (FILE:LINE: message)."""
    text = path.read_text(encoding="utf-8")
    out = Register(path, [], [], [])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        out.problems.append(f"{path}:{mark.line + 1 if mark else 1}: not YAML: {exc}")
        return out
    if not isinstance(root, yaml.MappingNode):
        out.problems.append(f"{path}:1: the register is a mapping with a key 'claims'")
        return out
    nodes = {k.value: v for k, v in root.value}
    for key, _ in root.value:
        if key.value not in ("claims", "not_claims"):
            out.problems.append(f"{path}:{key.start_mark.line + 1}: unknown top-level key {key.value!r}")
    claims = nodes.get("claims")
    if isinstance(claims, yaml.SequenceNode):
        seen: dict[str, int] = {}
        for item in claims.value:
            claim = _claim(path, item, out.problems)
            if claim is None:
                continue
            if claim.id in seen:
                out.problems.append(f"{path}:{claim.line}: claim {claim.id!r} already registered at line "
                                    f"{seen[claim.id]}")
                continue
            seen[claim.id] = claim.line
            out.claims.append(claim)
    elif claims is not None and not (isinstance(claims, yaml.ScalarNode) and claims.value in _EMPTY):
        out.problems.append(f"{path}:{claims.start_mark.line + 1}: 'claims' is a list of entries")
    not_claims = nodes.get("not_claims")
    if not_claims is not None:
        data = _construct(not_claims)
        keys = _str_list(data.get("catalogue")) if isinstance(data, dict) else None
        if keys is None or set(data) - {"catalogue"}:
            out.problems.append(f"{path}:{not_claims.start_mark.line + 1}: not_claims is "
                                "{catalogue: [key or fnmatch pattern, ...]}")
        else:
            out.not_claims = keys
    return out


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _claim(path: Path, node: yaml.Node, problems: list[str]) -> Claim | None:
    line = node.start_mark.line + 1
    data = _construct(node)
    where = f"{path}:{line}"
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        problems.append(f"{where}: an entry is a mapping with an 'id'")
        return None
    claim = Claim(id=data["id"], line=line)
    name = f"claim {claim.id!r}"
    if not CLAIM_ID.match(claim.id):
        problems.append(f"{where}: {name}: an id is lowercase words joined by '.' or '-'")
    unknown = sorted(set(data) - ENTRY_KEYS)
    if unknown:
        problems.append(f"{where}: {name}: unknown key(s) {', '.join(unknown)}; "
                        f"use {', '.join(sorted(ENTRY_KEYS))}")
    says = data.get("says")
    if not isinstance(says, str) or not says.strip() or "\n" in says.strip():
        problems.append(f"{where}: {name}: 'says' is the claim in one line")
    else:
        claim.says = says
    holds = data.get("holds_for")
    if (not isinstance(holds, dict) or not holds or set(holds) - {"istio", "envoy", "fortio"}
            or not all(isinstance(v, str) for v in holds.values())):
        problems.append(f"{where}: {name}: holds_for is {{istio: \"1.30\", envoy: \"1.40\"}} (one or both; "
                        "fortio for a claim about fortio)")
    else:
        claim.holds_for = holds
    evidence = data.get("evidence") or {}
    if not isinstance(evidence, dict) or set(evidence) - {"tests", "source"}:
        problems.append(f"{where}: {name}: evidence is {{tests: [...], source: [...]}}")
        evidence = {}
    tests = _str_list(evidence.get("tests"))
    sources = evidence.get("source") or []
    if tests is None:
        problems.append(f"{where}: {name}: evidence.tests is a list of pytest node ids")
        tests = []
    if not isinstance(sources, list):
        problems.append(f"{where}: {name}: evidence.source is a list of citations")
        sources = []
    claim.tests = tests
    for i, src in enumerate(sources):
        missing = [k for k in SOURCE_KEYS if not isinstance(src, dict) or src.get(k) in (None, "")]
        if missing:
            problems.append(f"{where}: {name}: source citation {i + 1} lacks {', '.join(missing)} "
                            "(a citation is {repo, ref, path, line, note})")
        elif not isinstance(src["line"], int) or isinstance(src["line"], bool) or src["line"] < 1:
            problems.append(f"{where}: {name}: source citation {i + 1}: line is a line number, got "
                            f"{src['line']!r}")
        elif not re.match(r"^[\w.-]+/[\w.-]+$", str(src["repo"])):
            problems.append(f"{where}: {name}: source citation {i + 1}: repo is owner/name, "
                            f"got {src['repo']!r}")
        else:
            claim.sources.append(src)
    if not tests and not sources:
        problems.append(f"{where}: {name} has no evidence: cite a test (evidence.tests) or a pinned source "
                        "(evidence.source)")
    text = data.get("text") or {}
    cells = _str_list(text.get("cells")) if isinstance(text, dict) else None
    catalogue = _str_list(text.get("catalogue")) if isinstance(text, dict) else None
    if cells is None or catalogue is None or (isinstance(text, dict) and set(text) - {"cells", "catalogue"}):
        problems.append(f"{where}: {name}: text is {{cells: [lab01:cell-id, ...], catalogue: [key, ...]}}")
    claim.cells, claim.catalogue = cells or [], catalogue or []
    return claim


_HEADER = re.compile(r"^# %%(?P<rest>.*)$")
_OPTION = re.compile(r'(\w+)=("[^"]*"|\[[^\]]*\])')
_SLUG_MAX = 48


def slug(heading: str) -> str:
    """A markdown cell's id from its heading, as tools/notebooks/generate.py makes it (a test holds them
    equal)."""
    text = re.sub(r"['\u2019`]", "", heading.lstrip("#").strip().lower())
    out = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(out) > _SLUG_MAX:
        out = out[: out.rfind("-", 0, _SLUG_MAX + 1)]
    return out


@dataclass
class SourceCell:
    """A markdown cell of a lab source: its id, the line of its header and its text in each edition."""

    id: str
    line: int
    texts: dict[str, str]


def markdown_cells(source: Path) -> list[SourceCell]:
    """The markdown cells of a percent-script lab source, each with its Chinese text (the ``lang="zh"`` cell
    right after it). Code cells are skipped; a malformed source is tools/notebooks/generate.py's to report."""
    cells: list[SourceCell] = []
    header: tuple[int, str, dict[str, str]] | None = None  # line, "code" / "markdown" / "lang=zh", options
    body: list[str] = []

    def close() -> None:
        if header is None:
            return
        line, kind, options = header
        text = "\n".join(x[2:] if x.startswith("# ") else x[1:] if x.startswith("#") else x for x in body)
        text = text.strip("\n")
        if kind == "markdown":
            first = text.split("\n", 1)[0]
            cell_id = options.get("id") or (slug(first) if first.startswith("#") else f"line-{line}")
            cells.append(SourceCell(cell_id, line, {"en": text}))
        elif kind.startswith("lang=") and cells:
            cells[-1].texts[kind[len("lang="):]] = text

    for n, raw in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        found = _HEADER.match(raw)
        if found:
            close()
            rest = found.group("rest")
            options = {k: v.strip('"') for k, v in _OPTION.findall(rest)}
            kind = "markdown" if "[markdown]" in rest else "code"
            if kind == "markdown" and "lang" in options:
                kind = f"lang={options['lang']}"
            header, body = (n, kind, options), []
        elif header is not None:
            body.append(raw)
    close()
    return cells


def marker_ids(markdown: str) -> tuple[list[str], bool]:
    """The claim ids of a cell's markers, and whether a ``<!-- claims`` is not a marker on its own line."""
    ids = [i for m in MARKER.finditer(markdown) for i in m.group("ids").split()]
    malformed = len(_MARKER_START.findall(markdown)) != len(MARKER.findall(markdown))
    return ids, malformed


def cell_claims(source: Path) -> dict[str, CellClaims]:
    """``<stem>:<cell id>`` -> the claim ids of every markdown cell of a lab source that has a marker."""
    out: dict[str, CellClaims] = {}
    for cell in markdown_cells(source):
        ids, bad = {}, []
        for lang, text in cell.texts.items():
            ids[lang], malformed = marker_ids(text)
            if malformed:
                bad.append(lang)
        if any(ids.values()) or bad:
            out[f"{source.stem}:{cell.id}"] = CellClaims(source, cell.line, ids, bad)
    return out


def catalogue_lines(directory: Path = CATALOGUES, lang: str = "en") -> dict[str, tuple[Path, int]]:
    """Every key of the ``lang`` catalogues (``<lang>.yaml``, ``<area>.<lang>.yaml``) -> its file and line."""
    keys: dict[str, tuple[Path, int]] = {}
    for path in sorted(directory.glob(f"*{lang}.yaml")):
        if path.name != f"{lang}.yaml" and not path.name.endswith(f".{lang}.yaml"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            m = re.match(r"^([A-Za-z0-9_.]+):", line)
            if m:
                keys[m.group(1)] = (path, n)
    return keys


def _defined_tests(path: Path) -> set[str]:
    """``name`` and ``Class::name`` of every test function of a test module (its AST: nothing is imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{f.name}" for f in node.body
                      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return {n for n in names if n.split("::")[-1].startswith("test")}


def _parametrized(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name.split("::")[-1]:
            return any("parametrize" in ast.unparse(d) for d in node.decorator_list)
    return False


def missing_tests(node_ids: Iterable[str], root: Path = REPO) -> dict[str, str]:
    """The node ids that name no test of the suite: node id -> why.

    A node id is ``tests/<path>.py::<function>`` (or ``::<Class>::<function>``), optionally with a parameter
    id ``[...]``; the function is found in the module's AST, and a parameter id is looked up with pytest's own
    collection of that module (only then, so the check stays fast).
    """
    out: dict[str, str] = {}
    defined: dict[Path, set[str]] = {}
    with_params: dict[Path, list[str]] = {}
    for node in node_ids:
        m = _NODE.match(node)
        if not m or not m.group("file").startswith("tests/"):
            out[node] = "not a node id tests/<path>.py::<test function>"
            continue
        path = root / m.group("file")
        if not path.is_file():
            out[node] = f"no file {m.group('file')}"
            continue
        if path not in defined:
            defined[path] = _defined_tests(path)
        if m.group("names") not in defined[path]:
            out[node] = f"no test {m.group('names')} in {m.group('file')}"
        elif m.group("params"):
            if not _parametrized(path, m.group("names")):
                out[node] = f"{m.group('names')} is not parametrized"
            else:
                with_params.setdefault(path, []).append(node)
    for path, nodes in with_params.items():
        collected = _collect(path, root)
        for node in nodes:
            if node not in collected:
                out[node] = "pytest collects no such parameter id"
    return out


def _collect(path: Path, root: Path) -> set[str]:
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
            str(path.relative_to(root))]
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=300)
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def problems(register: Path = REGISTER, notebooks: Path = NOTEBOOKS, catalogues: Path = CATALOGUES,
             root: Path = REPO) -> list[str]:
    """Every disagreement between the register, the labs' text and the test suite (FILE:LINE: message)."""
    reg = load_register(register)
    out = list(reg.problems)
    by_id = {c.id: c for c in reg.claims}
    # the notebooks' markers
    marked: dict[str, set[str]] = {}  # claim id -> cells that carry it
    for source in sorted(notebooks.glob("lab[0-9][0-9].py")):
        for key, cell in cell_claims(source).items():
            where = f"{source}:{cell.line}"
            for lang in cell.malformed:
                out.append(f"{where}: cell {key} ({lang}): a claims marker is a line of its own: "
                           "<!-- claims: id other-id -->")
            en = cell.ids.get("en", [])
            for lang, ids in cell.ids.items():
                if lang != "en" and set(ids) != set(en):
                    out.append(f"{where}: cell {key}: the {lang} text carries {sorted(set(ids))}, the "
                               f"English {sorted(set(en))}; both editions carry the same claim ids")
            for lang, ids in cell.ids.items():
                for cid in ids:
                    if not CLAIM_ID.match(cid):
                        out.append(f"{where}: cell {key} ({lang}): {cid!r} is not a claim id")
                    elif cid not in by_id:
                        out.append(f"{where}: cell {key} ({lang}): claim {cid!r} is not registered in "
                                   f"{register}")
                    marked.setdefault(cid, set()).add(key)
    keys = catalogue_lines(catalogues)
    tests = missing_tests([t for c in reg.claims for t in c.tests], root)
    for claim in reg.claims:
        where = f"{register}:{claim.line}: claim {claim.id!r}"
        for node in claim.tests:
            if node in tests:
                out.append(f"{where}: cited test {node} does not exist ({tests[node]})")
        listed, carried = set(claim.cells), marked.get(claim.id, set())
        for cell in sorted(listed - carried):
            out.append(f"{where}: text.cells lists {cell}, which carries no marker with this id")
        for cell in sorted(carried - listed):
            out.append(f"{where}: cell {cell} carries this id; add it to text.cells")
        for key in claim.catalogue:
            if key not in keys:
                out.append(f"{where}: text.catalogue key {key!r} is in no catalogue ({catalogues})")
        if not listed and not carried and not claim.catalogue:
            out.append(f"{where}: dead claim: no cell carries it and no catalogue key states it; "
                       "remove it or mark the text that states it")
    # the checked catalogue areas: each key states a claim or is listed as stating none
    covered = {k for c in reg.claims for k in c.catalogue}
    for key, (path, line) in sorted(keys.items()):
        if key.startswith(CHECKED_AREAS) and key not in covered and not _matches(key, reg.not_claims):
            out.append(f"{path}:{line}: {key} states no registered claim: list it under a claim's "
                       f"text.catalogue in {register.name}, or under not_claims.catalogue if it says nothing "
                       "about how Istio or Envoy behaves")
    for pattern in reg.not_claims:
        hits = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
        if not hits:
            out.append(f"{register}:1: not_claims pattern {pattern!r} matches no catalogue key")
        elif covered & set(hits):
            out.append(f"{register}:1: not_claims pattern {pattern!r} matches keys a claim cites: "
                       f"{sorted(covered & set(hits))}")
    return out


def _matches(key: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def main() -> int:
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
