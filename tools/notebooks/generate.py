"""Write the lab notebooks (no outputs), English and Chinese, from one bilingual source per lab (beside this).

    .venv/bin/python tools/notebooks/generate.py          # rewrite labs/*.ipynb and labs/zh/*.ipynb
    .venv/bin/python tools/notebooks/generate.py --check  # exit 1 if a notebook differs (tests run it)

A source ``labNN.py`` is a jupytext percent script that ruff lints like the rest: ``# %%`` starts a code cell,
``# %% [markdown]`` a markdown cell (its lines commented out), options follow in the header:
``# %% id="apply-route" tags=["parameters"]``. Its first line names the notebook it makes
(``# Source of labs/01-circuit-breaking.ipynb``); other comment lines before the first cell are not a cell.
Each cell's notebook id is its ``id``, else the slug of its markdown heading (``## Step 1: start fortio`` ->
``step-1-start-fortio``), so inserting a cell changes no other id.

Two editions from one source, so they cannot drift apart:

* Every English markdown cell is followed at once by its Chinese text, a ``# %% [markdown] lang="zh"`` cell
  (no ``id``: it takes its English cell's). The English edition ``labs/<name>`` gets the English cells, the
  Chinese edition ``labs/zh/<name>`` (same file name) the Chinese ones, in the same places.
* Code cells are shared: both editions get the same code, except that the parameters cell's
  ``lang = "en"`` line becomes ``lang = "zh"``. Code passes ``lang=lang`` to every lablib call that writes
  text, and gets any text it writes itself from the catalogue (``t("lab01.…", lang)``).

A bad source stops with ``FILE:LINE: message; fix`` and writes nothing.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat

from lablib._exceptions import LabError
from lablib.labs import LABS as LAB_TABLE

HERE = Path(__file__).resolve().parent
LABS = HERE.parents[1] / "labs"

#: the labs to generate (one row each in lablib.labs.LABS: notebook, source, package, CI parameters)
TABLE = LAB_TABLE
#: the editions: language -> folder of its notebooks; "en" is the language the sources' own cells are in
EDITIONS = {"en": LABS, "zh": LABS / "zh"}
#: the characters a translation must contain (a cell without them is a copy of the English, not Chinese)
SCRIPTS = {"zh": re.compile(r"[\u3400-\u9fff]")}
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: the cell options a source may set (jupytext reads them into the cell's metadata)
OPTIONS = ("id", "tags", "lang")
#: nbgrader's cell metadata (schema 3) for the exercises' cells, by tag: the answer a student writes
#: ("solution") and the cell that grades it ("grade", autograded: it raises in nbgrader's runs when the answer
#: fails). The grade_id is the cell's id.
NBGRADER = {
    "nbgrader-answer": {"grade": False, "locked": False, "schema_version": 3, "solution": True,
                        "task": False},
    "nbgrader-check": {"grade": True, "locked": True, "points": 1, "schema_version": 3, "solution": False,
                       "task": False},
}

_MARKER = re.compile(r"^# %%")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # nbformat 4.5's cell id
_SOURCE_OF = re.compile(r"^# Source of labs/([A-Za-z0-9_.-]+\.ipynb)\b")
_LANG_LINE = re.compile(r'^lang = "en"(?=\s|$)', re.MULTILINE)  # the parameters cell's language
_SLUG_MAX = 48
_WIDE = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef"  # CJK characters and full-width punctuation
_WIDE_BREAK = re.compile(rf"(?<=[{_WIDE}])\n[ \t]*(?=[{_WIDE}])")
_BLOCK_START = re.compile(r"^\s*(?:[*+>|#-]|\d+\.|```)")


class NotebookSourceError(LabError):
    """A notebook source that cannot become a notebook; prints as ``FILE:LINE: message; fix``."""

    def __init__(self, path: Path, line: int, message: str, fix: str) -> None:
        super().__init__(f"{path}:{line}: {message}; {fix}")


@dataclass
class Cell:
    """One cell of a source: what the notebook gets, and the line of its ``# %%`` header."""

    kind: str  # "markdown" or "code"
    source: str
    line: int
    id: str
    tags: list[str] = field(default_factory=list)
    #: a markdown cell's text in the other editions: language -> text
    translations: dict[str, str] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        """The cell's source in the ``lang`` edition."""
        if self.kind == "markdown" and lang != "en":
            return join_wide_lines(self.translations[lang])
        if "parameters" in self.tags and lang != "en":
            return _LANG_LINE.sub(f'lang = "{lang}"', self.source, count=1)
        return self.source


def join_wide_lines(markdown: str) -> str:
    """Join the lines of a paragraph the source wrapped between two Chinese characters.

    A browser draws a paragraph's line break as a space, which Chinese text does not have between
    characters (``出错后，\n就把`` would show as ``出错后， 就把``). Breaks next to Latin text keep their
    space; code blocks, headings and the start of list items are left alone.
    """
    lines, fence = markdown.split("\n"), False
    out: list[str] = []
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        joinable = out and not fence and line.strip() and out[-1].strip() and not _BLOCK_START.match(line)
        if joinable and not out[-1].lstrip().startswith(("#", "```")):
            joined = _WIDE_BREAK.sub("", out[-1] + "\n" + line)
            if "\n" not in joined:
                out[-1] = joined
                continue
        out.append(line)
    return "\n".join(out)


def slug(heading: str) -> str:
    """``## Step 3: the breaker rule`` -> ``step-3-the-breaker-rule`` (at most 48 characters, whole words)."""
    text = re.sub(r"['’`]", "", heading.lstrip("#").strip().lower())
    out = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(out) > _SLUG_MAX:
        out = out[: out.rfind("-", 0, _SLUG_MAX + 1)]
    return out


def sources() -> list[Path]:
    """Every lab's source beside this file (``lab01.py``, …), in the order of the table of the labs."""
    return [HERE / Path(info.source).name for info in TABLE]


def notebook_name(path: Path) -> str:
    """The notebook a source makes, from its first line ``# Source of labs/<name>.ipynb``; it must be the
    notebook the table of the labs gives that source."""
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    m = _SOURCE_OF.match(first)
    if not m:
        raise NotebookSourceError(path, 1, "the first line does not name the notebook",
                                  "start the file with: # Source of labs/NN-topic.ipynb")
    listed = next((info.notebook for info in TABLE if Path(info.source).name == path.name), m.group(1))
    if m.group(1) != listed:
        raise NotebookSourceError(path, 1, f"the source names labs/{m.group(1)}, the table of the labs "
                                  f"(lablib/labs/__init__.py) labs/{listed}", "make them the same")
    return m.group(1)


def read_cells(path: Path) -> list[Cell]:
    """The cells of a percent-script source (English), with their ids, tags and translations checked."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    headers = [i + 1 for i, line in enumerate(lines) if _MARKER.match(line)]
    if not headers:
        raise NotebookSourceError(path, 1, "no cell", 'start each cell with "# %%" or "# %% [markdown]"')
    for n, line in enumerate(lines[: headers[0] - 1], start=1):
        if line.strip() and not line.startswith("#"):
            raise NotebookSourceError(path, n, "code before the first cell",
                                      'start a cell with "# %%" above it')
    body = "\n".join(lines[headers[0] - 1 :]) + "\n"
    nb = jupytext.reads(body, fmt="py:percent")
    if len(nb.cells) != len(headers):  # jupytext split the text differently from the "# %%" lines
        raise NotebookSourceError(path, headers[0], f"{len(nb.cells)} cells for {len(headers)} '# %%' lines",
                                  'begin every cell with a "# %%" line')
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    for made, line in zip(nb.cells, headers, strict=True):
        meta = dict(made.metadata)
        unknown = sorted(set(meta) - set(OPTIONS))
        if unknown:
            raise NotebookSourceError(path, line, f"unknown cell option {', '.join(unknown)}",
                                      f"use only {', '.join(OPTIONS)}")
        if "lang" in meta:
            _translation(path, line, made, meta, cells)
            continue
        cell_id = meta.get("id") or _heading_id(made)
        if not cell_id:
            raise NotebookSourceError(path, line, "cell without an id",
                                      'name it in the header, e.g. # %% id="apply-route"')
        if not isinstance(cell_id, str) or not _ID.match(cell_id):
            raise NotebookSourceError(path, line, f"bad cell id {cell_id!r}",
                                      "use 1-64 letters, digits, '-' or '_'")
        if cell_id in seen:
            raise NotebookSourceError(path, line, f"cell id {cell_id!r} already used at line {seen[cell_id]}",
                                      'give this cell its own id="..."')
        seen[cell_id] = line
        tags = meta.get("tags", [])
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise NotebookSourceError(path, line, f"tags must be a list of strings, got {tags!r}",
                                      'write tags=["parameters"]')
        cells.append(Cell(made.cell_type, made.source, line, cell_id, list(tags)))
    _check_editions(path, cells)
    return cells


def _translation(path: Path, line: int, made: nbformat.NotebookNode, meta: dict[str, object],
                 before: list[Cell]) -> None:
    """Attach a ``lang="zh"`` cell to the English markdown cell just before it."""
    lang = meta["lang"]
    if lang not in SCRIPTS:
        raise NotebookSourceError(path, line, f"unknown edition lang={lang!r}",
                                  f"use one of {', '.join(SCRIPTS)} (the editions are {', '.join(EDITIONS)})")
    if made.cell_type != "markdown" or set(meta) != {"lang"}:
        raise NotebookSourceError(path, line, "a translation is a markdown cell with no other option",
                                  f'write # %% [markdown] lang="{lang}" (it takes its English cell\'s id)')
    owner = before[-1] if before else None
    if owner is None or owner.kind != "markdown":
        raise NotebookSourceError(path, line, f"lang=\"{lang}\" cell without an English markdown cell above",
                                  "put it right after the markdown cell it translates")
    if lang in owner.translations:
        raise NotebookSourceError(path, line, f"second lang=\"{lang}\" text for line {owner.line}'s cell",
                                  "keep one translation per cell")
    if not SCRIPTS[str(lang)].search(made.source):
        raise NotebookSourceError(path, line, f"the lang=\"{lang}\" text has no {lang} characters",
                                  "write the translation, not a copy of the English")
    owner.translations[str(lang)] = made.source


def _check_editions(path: Path, cells: list[Cell]) -> None:
    """Every markdown cell has its text in every edition, and the parameters cell sets ``lang = "en"``."""
    for cell in cells:
        for lang in SCRIPTS:
            if cell.kind == "markdown" and lang not in cell.translations:
                raise NotebookSourceError(path, cell.line, f"cell {cell.id!r} lacks its {lang} text",
                                          f'add a # %% [markdown] lang="{lang}" cell right after it')
    params = [c for c in cells if "parameters" in c.tags]
    if len(params) != 1 or not _LANG_LINE.search(params[0].source):
        line = params[0].line if params else 1
        raise NotebookSourceError(path, line, 'no parameters cell with a line lang = "en"',
                                  'add lang = "en" to the cell tagged "parameters" (the editions set it)')


def _heading_id(cell: nbformat.NotebookNode) -> str:
    first = cell.source.split("\n", 1)[0]
    return slug(first) if cell.cell_type == "markdown" and first.startswith("#") else ""


def build(path: Path, lang: str = "en") -> nbformat.NotebookNode:
    """The ``lang`` edition of one source, as we commit it: no outputs, no execution counts."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for cell in read_cells(path):
        new = nbformat.v4.new_markdown_cell if cell.kind == "markdown" else nbformat.v4.new_code_cell
        made = new(cell.text(lang))
        made.id = cell.id
        if cell.tags:
            made.metadata["tags"] = cell.tags
        for tag in (t for t in cell.tags if t in NBGRADER):
            made.metadata["nbgrader"] = {**NBGRADER[tag], "grade_id": cell.id}
        nb.cells.append(made)
    nbformat.validate(nb)
    return nb


def render(path: Path, lang: str = "en") -> str:
    return nbformat.writes(build(path, lang)) + "\n"


def outputs() -> dict[Path, tuple[Path, str]]:
    """Every notebook to write: its path -> (source, edition)."""
    return {folder / notebook_name(src): (src, lang)
            for src in sources() for lang, folder in EDITIONS.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    try:
        rendered = {path: render(src, lang) for path, (src, lang) in outputs().items()}
    except LabError as e:  # every source is read before any notebook is written
        print(e, file=sys.stderr)
        return 2
    stale = []
    for path, text in rendered.items():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(LABS.parent)))
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run tools/notebooks/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
