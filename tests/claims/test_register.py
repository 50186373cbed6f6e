"""The claims register (issue 19): every claim the labs' text makes about Istio or Envoy is registered in
docs/claims.yaml with its evidence, and the evidence exists.

``tools/claims.py`` does the checking (no lablib import); this module asserts it finds nothing wrong in the
repository, and probes each way it must fail on a copy with one thing broken.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(module)
    return sys.modules[name]


claims = _tool("lablib_tools_claims", REPO / "tools" / "claims.py")


def test_the_labs_text_and_the_register_agree_and_every_cited_test_exists():
    found = claims.problems()
    assert not found, "\n".join(found)


def test_the_register_covers_the_four_labs_and_their_catalogues():
    reg = claims.load_register()
    cells = {cell.split(":")[0] for c in reg.claims for cell in c.cells}
    assert {"lab01", "lab02", "lab03", "lab04"} <= cells, cells
    assert len(reg.claims) >= 40 and sum(len(c.catalogue) for c in reg.claims) >= 60
    assert all(c.tests or c.sources for c in reg.claims)


def test_the_checker_finds_the_cells_and_ids_the_generator_makes():
    generate = _tool("lablib_tools_notebooks_generate", REPO / "tools" / "notebooks" / "generate.py")
    for source in generate.sources():
        mine = {c.id: c.texts for c in claims.markdown_cells(source)}
        theirs = {c.id: {"en": c.source, **c.translations} for c in generate.read_cells(source)
                  if c.kind == "markdown"}
        assert list(mine) == list(theirs), source.name
        for cell_id, texts in theirs.items():
            stripped = {k: v.strip() for k, v in texts.items()}
            assert {k: v.strip() for k, v in mine[cell_id].items()} == stripped, cell_id


# -- probes: a copy of the register and the sources with one thing broken ---------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Callable[..., list[str]]:
    """Copy the register and the lab sources; ``check(edit_register, edit_sources)`` returns the problems the
    edits add to those the copy had (the catalogues and the test suite are the repository's own)."""
    register = tmp_path / "claims.yaml"
    shutil.copy(claims.REGISTER, register)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for source in sorted(claims.NOTEBOOKS.glob("lab[0-9][0-9].py")):
        shutil.copy(source, notebooks / source.name)

    def run() -> list[str]:
        return claims.problems(register, notebooks, claims.CATALOGUES, REPO)

    before = set(run())

    def check(register_edit: Callable[[str], str] | None = None,
              source_edit: tuple[str, Callable[[str], str]] | None = None) -> list[str]:
        if register_edit:
            register.write_text(register_edit(register.read_text(encoding="utf-8")), encoding="utf-8")
        if source_edit:
            path = notebooks / source_edit[0]
            path.write_text(source_edit[1](path.read_text(encoding="utf-8")), encoding="utf-8")
        return [p for p in run() if p not in before]

    return check


def _entry(text: str, claim_id: str) -> tuple[int, int]:
    """Start and end offsets of one register entry (from its ``- id:`` to the next entry or section)."""
    start = text.index(f"  - id: {claim_id}\n")
    nxt = re.compile(r"^  - id: |^\S|^  # ", re.MULTILINE)
    m = nxt.search(text, start + 1)
    return start, m.start() if m else len(text)


def _replace_in_entry(claim_id: str, old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        a, b = _entry(text, claim_id)
        assert old in text[a:b], (claim_id, old)
        return text[:a] + text[a:b].replace(old, new, 1) + text[b:]
    return edit


def _first_marker(lang_zh: bool, edit: Callable[[str], str]) -> Callable[[str], str]:
    """Apply ``edit`` to the first claims marker of lab01's first marked cell, English or Chinese copy."""
    def apply(text: str) -> str:
        marks = [m for m in re.finditer(r"^# <!-- claims:.*-->$", text, re.MULTILINE)]
        m = marks[1] if lang_zh else marks[0]
        return text[:m.start()] + edit(m.group(0)) + text[m.end():]
    return apply


A_CLAIM = "istio.route.no-subset-one-cluster"


def test_an_id_in_the_text_without_an_entry_fails(copy):
    unknown = _first_marker(False, lambda m: m.replace("-->", "no.such-claim -->"))
    found = copy(source_edit=("lab01.py", unknown))
    assert any("claim 'no.such-claim' is not registered" in p for p in found), found


def test_an_entry_without_evidence_fails(copy):
    def drop_evidence(text: str) -> str:
        a, b = _entry(text, A_CLAIM)
        entry = re.sub(r"    evidence:\n(?:      .*\n)+", "", text[a:b])
        return text[:a] + entry + text[b:]
    found = copy(drop_evidence)
    assert any(f"claim '{A_CLAIM}' has no evidence" in p for p in found), found


def test_a_cited_test_that_does_not_exist_fails(copy):
    node = "tests/translate/test_route.py::test_the_seeds_virtual_service_routes_to_the_subsetless_cluster"
    found = copy(_replace_in_entry(A_CLAIM, node, node + "_renamed"))
    assert any("cited test " + node + "_renamed does not exist" in p for p in found), found


def test_a_parameter_id_is_checked_with_pytests_own_collection():
    node = "tests/translate/test_traffic_policy.py::test_outlier_detection"
    real = node + "[consecutive5xxErrors -> consecutive_5xx enforced 100]"
    assert claims.missing_tests([real, node + "[no such case]"], REPO) == {
        node + "[no such case]": "pytest collects no such parameter id"}


def test_a_source_citation_without_its_line_fails(copy):
    found = copy(_replace_in_entry(A_CLAIM, "line: 1860,", ""))
    assert any(f"claim '{A_CLAIM}': source citation 1 lacks line" in p for p in found), found


def test_english_and_chinese_cells_with_different_ids_fail(copy):
    extra = _first_marker(True, lambda m: m.replace("-->", A_CLAIM + " -->"))
    found = copy(source_edit=("lab01.py", extra))
    assert any("the zh text carries" in p and "both editions carry the same" in p for p in found), found


def test_a_catalogue_key_that_does_not_exist_fails(copy):
    found = copy(_replace_in_entry(A_CLAIM, "lab01.explain.per_cluster.route",
                                   "lab01.explain.per_cluster.gone"))
    assert any("key 'lab01.explain.per_cluster.gone' is in no catalogue" in p for p in found), found


def test_a_claim_nothing_refers_to_fails(copy):
    def add_dead(text: str) -> str:
        entry = ("  - id: envoy.nobody.says-this\n    says: \"a claim no text makes\"\n"
                 "    holds_for: {envoy: \"1.40\"}\n    evidence:\n      tests:\n"
                 "        - tests/mesh/test_mtls.py::test_mtls_off_for_the_whole_lab\n"
                 "    text:\n      cells: []\n      catalogue: []\n")
        return text.replace("\nnot_claims:", "\n" + entry + "\nnot_claims:", 1)
    found = copy(add_dead)
    assert any("'envoy.nobody.says-this': dead claim" in p for p in found), found


def test_the_cells_listed_and_the_cells_marked_must_match(copy):
    found = copy(_replace_in_entry(A_CLAIM, "lab01:step-2-the-route-rule, ", ""))
    assert any("lab01:step-2-the-route-rule carries this id; add it to text.cells" in p for p in found), found


def test_a_catalogue_explanation_without_a_claim_fails(copy):
    found = copy(_replace_in_entry(A_CLAIM, "lab01.explain.per_cluster.route, ", ""))
    assert any("lab01.explain.per_cluster.route states no registered claim" in p for p in found), found


def test_a_marker_not_on_its_own_line_fails(copy):
    heading = "# ## Step 2: make one instance fail"
    inline = (heading + "\n", heading + " <!-- claims: x -->\n")
    found = copy(source_edit=("lab02.py", lambda t: t.replace(*inline, 1)))
    assert any("a claims marker is a line of its own" in p for p in found), found


def test_the_register_is_plain_yaml_with_one_list_of_claims():
    data = yaml.safe_load(claims.REGISTER.read_text(encoding="utf-8"))
    assert set(data) == {"claims", "not_claims"}
    ids = [c["id"] for c in data["claims"]]
    assert len(ids) == len(set(ids))
