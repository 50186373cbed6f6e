"""``lablib._yamlio`` reads what the pure-Python safe loader reads, through libyaml where PyYAML has it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from lablib import _yamlio

ROOT = Path(__file__).resolve().parents[1]
#: Every YAML file the package and the repository ship: manifests, catalogues, measured numbers, claims.
FILES = sorted(p for folder in ("lablib", "manifests", "docs") for p in ROOT.glob(f"{folder}/**/*.yaml"))


def test_pypi_pyyaml_has_libyaml():
    # the speed the labs' numbers were measured with (bench_notebook); a PyYAML without it still works
    assert yaml.__with_libyaml__ and _yamlio.LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_file_reads_the_same(path: Path):
    text = path.read_text(encoding="utf-8")
    assert _yamlio.load_all(text) == list(yaml.safe_load_all(text))


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=30))
_DOCS = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=20)


@given(_DOCS)
def test_what_safe_dump_writes_reads_the_same(doc):
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    assert _yamlio.load(text) == yaml.safe_load(text)


def test_bad_yaml_raises_yamls_own_error():
    with pytest.raises(_yamlio.YAMLError):
        _yamlio.load("a: [1, 2")
