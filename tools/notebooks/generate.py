"""Write the lab notebooks (outputs empty) from their cells in ``lab01.py``, ``lab02.py``, so their source
stays reviewable as Python.

    .venv/bin/python tools/notebooks/generate.py          # rewrite labs/*.ipynb
    .venv/bin/python tools/notebooks/generate.py --check  # exit 1 if a notebook differs (tests run it)

Cells are ``("md", text)`` or ``("code", text)``; a code cell may carry tags:
``("code", text, ["parameters"])``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
LABS = HERE.parents[1] / "labs"
sys.path.insert(0, str(HERE))  # lab01.py / lab02.py beside this file

import lab01  # noqa: E402
import lab02  # noqa: E402

NOTEBOOKS = {"01-circuit-breaking.ipynb": lab01.CELLS, "02-outlier-detection.ipynb": lab02.CELLS}


def build(cells: list[tuple]) -> nbformat.NotebookNode:
    """A notebook with empty outputs and no execution counts (what we commit)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(cells):
        kind, text, *rest = cell
        tags = rest[0] if rest else []
        made = nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        made.id = f"cell-{i:02d}"  # stable ids: regenerating does not churn the diff
        if tags:
            made.metadata["tags"] = list(tags)
        nb.cells.append(made)
    nbformat.validate(nb)
    return nb


def render(cells: list[tuple]) -> str:
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = LABS / name
        text = render(cells)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run tools/notebooks/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
