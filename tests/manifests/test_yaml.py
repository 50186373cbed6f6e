"""YAML the lab cannot read: the seed's full-width colon, syntax errors, tabs, duplicate keys, and the book's
line numbers."""

from __future__ import annotations

import pytest

from lablib import ValidationFailed
from lablib.manifests import load_file, validate_files


def test_the_seeds_full_width_colon_is_named_on_line_1(write, seed_text, actionable):
    path = write("seed.yaml", seed_text)
    problems = validate_files([path])
    full_width = [p for p in problems if "full-width" in p.message]
    assert len(full_width) == 1
    p = full_width[0]
    assert p.severity == "error"
    assert p.message == "line 1 uses a full-width colon '：' (U+FF1A); YAML needs the ASCII ':'"
    assert "': '" in p.fix
    actionable(p, path, 1)
    # The parser's own error follows, pointing back at the colon as the likely cause.
    syntax = [p for p in problems if p.message.startswith("invalid YAML")]
    assert len(syntax) == 1 and "line 1" in syntax[0].fix
    with pytest.raises(ValidationFailed) as failed:
        load_file(path)
    assert "U+FF1A" in str(failed.value)


def test_the_seed_listing_copied_with_the_books_line_numbers_says_both(write, seed_listing, actionable):
    path = write("listing.yaml", seed_listing)
    problems = validate_files([path])
    numbers = [p for p in problems if "line numbers" in p.message]
    assert len(numbers) == 1
    actionable(numbers[0], path, 1)
    assert any("U+FF1A" in p.message and p.line == 1 for p in problems)


@pytest.mark.parametrize(
    ("sentence", "text", "char"),
    [
        ("a full-width colon in a nested key", "kind: Pod\nmetadata:\n  name\uff1afortio\n", "\uff1a"),
        ("a full-width space in the indentation", "kind: Pod\nmetadata:\n\u3000name: fortio\n", "\u3000"),
        ("a full-width comma in a flow list", "kind: Pod\nspec:\n  args: [a\uff0c b]\n", "\uff0c"),
    ],
)
def test_full_width_punctuation_is_an_error_where_yaml_needs_ascii(sentence, text, char, write, actionable):
    path = write("bad.yaml", text)
    problems = [p for p in validate_files([path]) if f"U+{ord(char):04X}" in p.message]
    assert len(problems) == 1, sentence
    assert problems[0].severity == "error"
    actionable(problems[0], path, 3)


def test_full_width_text_in_comments_or_quoted_values_is_fine(write):
    path = write(
        "ok.yaml",
        "# 熔断：示例，第一步\napiVersion: v1\nkind: Pod\nmetadata:\n  name: fortio\n"
        '  annotations:\n    note: "并发：10"\nspec:\n  containers:\n'
        "  - name: fortio\n    image: fortio/fortio\n",
    )
    assert validate_files([path]) == []


def test_full_width_punctuation_inside_a_plain_value_is_a_warning(write, actionable):
    path = write(
        "note.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: fortio\n  annotations:\n    note: 并发，十\n"
        "spec:\n  containers:\n  - name: fortio\n    image: fortio/fortio\n",
    )
    (p,) = validate_files([path])
    assert p.severity == "warning" and "quote the value" in p.fix
    actionable(p, path, 6)


@pytest.mark.parametrize(
    ("sentence", "text", "line", "column", "fix"),
    [
        (
            "a missing space after the colon",
            "kind: Pod\nmetadata:\n  name:fortio\n  labels: {app: x}\n",
            4,
            9,
            "line 3 needs a space after 'name:'",
        ),
        (
            "the seed's first line with an ASCII colon but no space",
            "apiVersion:networking.istio.io/v1alpha3\nkind: DestinationRule\n",
            2,
            5,
            "line 1 needs a space after 'apiVersion:'",
        ),
        ("a tab in the indentation", "kind: Pod\nmetadata:\n\tname: fortio\n", 3, 1, "tabs"),
        ("an unclosed flow list", "kind: Pod\nspec:\n  args: [a, b\n", 4, 1, "indentation"),
    ],
)
def test_yaml_syntax_errors_give_line_and_column(sentence, text, line, column, fix, write, actionable):
    path = write("syntax.yaml", text)
    problems = validate_files([path])
    assert len(problems) == 1, (sentence, [str(p) for p in problems])
    p = problems[0]
    assert p.message.startswith("invalid YAML") and f"line {line}, column {column}" in p.message, sentence
    assert p.column == column and fix in p.fix, sentence
    actionable(p, path, line)


def test_a_duplicate_key_is_an_error_at_the_second_one(write, actionable):
    path = write(
        "dup.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n"
        "spec:\n  containers:\n  - name: c\n    image: i\n",
    )
    (p,) = validate_files([path])
    assert "duplicate key 'name' (first on line 4)" in p.message
    actionable(p, path, 5)


def test_a_document_that_is_not_a_mapping_is_an_error(write, actionable):
    path = write("list.yaml", "- apiVersion: v1\n  kind: Pod\n")
    (p,) = validate_files([path])
    assert "must be a mapping" in p.message
    actionable(p, path, 1)


def test_empty_documents_between_separators_are_skipped(write):
    path = write(
        "multi.yaml",
        "---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
        "spec: {containers: [{name: c, image: i}]}\n---\n",
    )
    (pod,) = load_file(path)
    assert pod.source.line == 3 and pod.line_of("spec") == 6


def test_full_width_text_inside_a_block_scalar_is_fine(write):
    path = write(
        "block.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: fortio\n  annotations:\n    note: |\n"
        "      并发：10，说明\n      第二行\n"
        "spec:\n  containers:\n  - name: fortio\n    image: fortio/fortio\n",
    )
    assert validate_files([path]) == []


def test_a_byte_order_mark_is_not_an_error(write):
    path = write(
        "bom.yaml",
        "\ufeffapiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n",
    )
    (pod,) = load_file(path)
    assert pod.kind == "Pod"


def test_a_set_of_files_with_one_error_loads_nothing(write, manifests_dir):
    bad = write(
        "bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n"
    )
    from lablib.manifests import load_files

    with pytest.raises(ValidationFailed) as failed:
        load_files([manifests_dir / "kubernetes/fortio.yaml", bad])
    (p,) = failed.value.problems
    assert p.file == str(bad) and "missing required field 'image'" in p.message
    assert "nothing was applied" in str(failed.value)
