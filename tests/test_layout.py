"""The layout of docs/ARCHITECTURE.md holds: lablib's imports have no circle, point downward, and no lab
package imports another lab's.

The graph is read from the source (every ``import`` statement, inside functions too, except those under
``if TYPE_CHECKING:``), module by module; a package's ``__init__`` counts as the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lablib.labs import LABS

ROOT = Path(__file__).resolve().parents[1]
LABLIB = ROOT / "lablib"

#: Layers, lowest first: a module may import its own layer and those below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("lablib._exceptions", "lablib._types", "lablib._duration", "lablib._yamlio", "lablib.lab_defaults",
     "lablib._lazy"),
    ("lablib.i18n",),
    ("lablib.manifests", "lablib.translate", "lablib.theory", "lablib.mtls", "lablib.service_go"),
    ("lablib.envoy", "lablib.fortio"),
    ("lablib.backends",),
    ("lablib.lab", "lablib._cli", "lablib.__main__"),
    ("lablib.notebook",),
    ("lablib.labs",),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The lablib modules ``path`` imports (``from pkg import name`` of a submodule counts as that module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            subs = {f"{base}.{alias.name}" for alias in node.names} & modules
            # ``from pkg import module`` imports that module; ``from pkg import name`` imports pkg
            found.update(subs if len(subs) == len(node.names) else {base, *subs})
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in modules and m != me}


def graph() -> dict[str, set[str]]:
    files = sorted(LABLIB.rglob("*.py"))
    files = [f for f in files if "_manifests" not in f.parts]
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def layer_of(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer):
            return i
    return None


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle (a list of modules, first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := dfs(node)):
            return found
    return None


def test_every_module_has_a_layer():
    assert [m for m in graph() if m != "lablib" and layer_of(m) is None] == []


def test_lablib_has_no_import_circle():
    edges = graph()
    # the package's own __init__ re-exports from below; it is the top, so it takes part in no circle
    edges.pop("lablib", None)
    for deps in edges.values():
        deps.discard("lablib")
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_imports_point_downward():
    upward = [f"{m} imports {d}" for m, deps in graph().items() if m != "lablib"
              for d in deps if d != "lablib" and (layer_of(d) or 0) > (layer_of(m) or 0)]
    assert upward == []


def test_no_lab_package_imports_another_lab():
    packages = {info.package for info in LABS}
    crossing = [f"{m} imports {d}" for m, deps in graph().items() for d in deps
                for lab in packages if (m == lab or m.startswith(lab + "."))
                and any(d == other or d.startswith(other + ".") for other in packages - {lab})]
    assert crossing == []


def test_every_lab_in_the_table_has_its_package_its_source_and_both_editions():
    for info in LABS:
        assert (LABLIB / "labs" / info.package.rsplit(".", 1)[-1] / "__init__.py").is_file(), info.package
        assert (ROOT / info.source).is_file(), info.source
        assert (ROOT / "labs" / info.notebook).is_file() and (ROOT / "labs" / "zh" / info.notebook).is_file()
        assert info.notebook.startswith(info.number + "-")
        # the package is the notebook's name without its number, so a newcomer finds it in one guess
        assert info.package == "lablib.labs." + info.notebook[3:].removesuffix(".ipynb").replace("-", "_")


@pytest.mark.parametrize("edges, circle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": set()}, None),
])
def test_the_circle_finder_finds_a_circle(edges, circle):
    assert find_cycle(edges) == circle


def test_the_graph_sees_an_upward_import(tmp_path):
    src = tmp_path / "lablib" / "translate"
    src.mkdir(parents=True)
    (src / "x.py").write_text("def f():\n    from lablib.labs.circuit_breaking import knobs\n")
    global ROOT
    old = ROOT
    try:
        ROOT = tmp_path
        knobs = "lablib.labs.circuit_breaking.knobs"
        assert imports_of(src / "x.py", {knobs}) == {knobs}
    finally:
        ROOT = old
