"""The bad-input corpus: every file of cases/ is a mistake a student makes or an attack, and its first lines
say what the validator must answer (``# expect: LINE: error|warning: fragment``). No case may end in a
traceback or a hang; each answer is ``FILE:LINE: message; fix``.

Plus the attacks generated here because they are big: the alias bomb, 5,000 ``[``, 2,000 block levels, a
file past the size cap, and a mapping with 100,000 subsets, each refused cleanly and quickly (pytest-timeout:
a hang fails the test, no timing assertion)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lablib.manifests import Problem, parse_manifests, validate_files
from lablib.manifests._limits import MAX_FILE_BYTES

CASES = Path(__file__).resolve().parent / "cases"
REPO = CASES.parents[2]
_EXPECT = re.compile(r"^# expect: (\d+): (error|warning): (.+)$")


def expectations(path: Path) -> list[tuple[int, str, str]]:
    """The ``# expect:`` lines at the top of a case: (line, severity, message fragment)."""
    found = []
    for line in path.read_bytes().decode("ascii", "replace").splitlines():
        match = _EXPECT.match(line)
        if not match:
            break
        found.append((int(match.group(1)), match.group(2), match.group(3)))
    return found


def assert_reported(problems: list[Problem], file: str, line: int, severity: str, fragment: str) -> None:
    shown = "\n".join(str(p) for p in problems)
    matching = [p for p in problems if p.line == line and fragment.lower() in p.text.lower()]
    assert matching, f"expected {file}:{line}: {severity}: …{fragment}…; got:\n{shown}"
    p = matching[0]
    assert p.severity == severity, shown
    assert str(p).startswith(f"{file}:{line}: "), str(p)
    assert p.fix and str(p).endswith(p.fix), f"no fix: {p}"


ALL = sorted(CASES.glob("*.yaml"))


def test_the_corpus_has_at_least_50_cases_each_with_an_expectation() -> None:
    assert len(ALL) >= 50
    assert all(expectations(p) for p in ALL), [p.name for p in ALL if not expectations(p)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_each_case_is_reported_at_its_line_with_the_fix(path: Path) -> None:
    problems = validate_files([path])
    for line, severity, fragment in expectations(path):
        assert_reported(problems, str(path), line, severity, fragment)
    if all(severity == "warning" for _, severity, _ in expectations(path)):
        assert not any(p.is_error for p in problems), [str(p) for p in problems]


@pytest.mark.timeout(60)
def test_the_cli_answers_the_whole_corpus_without_a_traceback() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "lablib", "validate", str(CASES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    summary = rf"{len(ALL)} file\(s\), \d+ object\(s\): \d+ error\(s\), \d+ warning\(s\)"
    assert re.fullmatch(summary, lines[-1]), lines[-1]
    assert all(re.match(r"^\S+\.yaml:\d+: ", line) for line in lines[:-1]), lines


# --- big attacks, generated ---------------------------------------------------------------------------------


def _only_error(text: str, fragment: str) -> Problem:
    manifests, problems = parse_manifests(text, "attack.yaml")
    assert manifests == [] or all(m.errors for m in manifests)
    errors = [p for p in problems if p.is_error]
    assert errors and fragment in errors[0].message, [str(p) for p in problems]
    assert errors[0].fix
    return errors[0]


@pytest.mark.timeout(10)
def test_a_billion_laughs_is_refused_before_it_expands() -> None:
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]  # 10^10 nodes
    assert len("\n".join(levels)) < 1000
    problem = _only_error("\n".join(levels) + "\n", "billion laughs")
    assert problem.line == 4  # a3 copies 10 x 1,111 values: the first line past 10,000


@pytest.mark.timeout(10)
def test_5000_nested_brackets_are_refused() -> None:
    _only_error("spec: " + "[" * 5000 + "]" * 5000 + "\n", "nests more than 64 levels")


@pytest.mark.timeout(10)
def test_2000_nested_block_lists_are_refused() -> None:
    _only_error("- " * 2000 + "x\n", "nests more than 64 levels")


@pytest.mark.timeout(30)
def test_2000_indented_block_levels_are_refused() -> None:
    # 2,000 levels of `key:` indentation are 2 MB of spaces: past the size cap before any YAML is read.
    text = "".join(" " * i + f"k{i}:\n" for i in range(2000))
    problem = _only_error(text, "larger than 1024 KiB")
    assert problem.line == 1
    # Under the cap (every level one space deeper, the first 1,400 only) the depth cap answers.
    _only_error("".join(" " * i + f"k{i}:\n" for i in range(1400)), "nests more than 64 levels")


@pytest.mark.timeout(10)
def test_a_file_past_the_size_cap_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.write(b"# " + b"x" * (MAX_FILE_BYTES * 64) + b"\n")  # 64 MiB
    problems = validate_files([path])
    assert len(problems) == 1 and problems[0].is_error, [str(p) for p in problems]
    assert str(problems[0]).startswith(f"{path}:1: the file is larger than 1024 KiB, the most the lab reads")


@pytest.mark.timeout(20)
def test_a_destination_rule_with_100000_subsets_is_refused_at_once() -> None:
    head = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: big\nspec:\n"
    subsets = "".join(f"  - {{name: v{i}}}\n" for i in range(100_000))
    text = head + "  host: service-go\n  subsets:\n" + subsets
    assert len(text) > MAX_FILE_BYTES  # the size cap answers first
    _only_error(text, "larger than 1024 KiB")
    fits = subsets[: MAX_FILE_BYTES - 200].rsplit("\n", 1)[0]
    small = head + "  host: service-go\n  subsets:\n" + fits + "\n"
    problem = _only_error(small, "more than 1000 items")  # refused while parsing, at item 1,001
    assert problem.line == 8 + 1000


@pytest.mark.timeout(10)
def test_replicas_100000_never_builds_the_pods() -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: big\nspec:\n  replicas: 100000\n"
        "  selector: {matchLabels: {app: big}}\n  template:\n    metadata: {labels: {app: big}}\n"
        "    spec: {containers: [{name: app, image: big}]}\n"
    )
    problem = _only_error(text, "above 10, the most the lab allows here")
    assert problem.line == 6


def _deployment(name: str, replicas: int) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n"
        f"  selector: {{matchLabels: {{app: {name}}}}}\n"
        f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
        f"    spec: {{containers: [{{name: app, image: {name}}}]}}\n"
    )


def test_pods_are_counted_across_the_lab_already_applied_and_the_new_file(tmp_path: Path) -> None:
    applied, _ = parse_manifests(_deployment("a", 8) + "---\n" + _deployment("b", 8), "applied.yaml")
    new = tmp_path / "more.yaml"
    new.write_text(_deployment("c", 5))
    problems = validate_files([new], context=applied)
    assert_reported(problems, str(new), 6, "error", "this would make 21 pods in the lab (16 before")
    new.write_text(_deployment("c", 4))  # exactly the cap: fine
    assert not [p for p in validate_files([new], context=applied) if p.is_error]
