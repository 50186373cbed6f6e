"""The English and Chinese editions of every lab (issue #12): one bilingual source per lab, two notebooks.

``tools/notebooks/labNN.py`` makes ``labs/<name>`` and ``labs/zh/<name>``. The static tests check that the two
editions have the same cells in the same order (code identical but for the ``lang`` value, every markdown
cell paired with its Chinese text, the same ``## Step N`` / ``## 第 N 步`` structure) and that every lablib
call that writes text gets ``lang=lang``. The execution test reads the session's run of each Chinese notebook
(``lab_run``: real Envoy, CI's small parameters from ``LABS``) and its outputs: the verdicts and
explanations are Chinese, and no English sentence leaks through.
"""

from __future__ import annotations

import ast
import html
import inspect
import re
from pathlib import Path

import nbformat
import pytest

from lablib.labs import LABS as LAB_TABLE
from lablib.labs import LabInfo
from tests.i18n.test_zh import PHRASE
from tests.support import CJK

from .conftest import MARKER_VAR, REPO
from .executions import assert_ran_clean
from .test_notebook import _generate

LABS = REPO / "labs"
SOURCES = [REPO / info.source for info in LAB_TABLE]
EN_STEP = re.compile(r"^## Step (\d+)(?::|$)")
ZH_STEP = re.compile(r"^## 第 (\d+) 步(?:：|$)")
_FENCE = re.compile(r"^```")


def _editions(source: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    name = _generate().notebook_name(source)
    return nbformat.read(LABS / name, as_version=4), nbformat.read(LABS / "zh" / name, as_version=4)


def _headings(markdown: str) -> list[str]:
    """The markdown's heading lines (``#`` at the start of a line outside a code block)."""
    out, fence = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fence = not fence
        elif not fence and line.startswith("#"):
            out.append(line)
    return out


def test_sources_are_found_and_each_makes_both_editions():
    assert [s.name for s in SOURCES][:2] == ["lab01.py", "lab02.py"]
    gen = _generate()
    for source in SOURCES:
        en, zh = _editions(source)  # both exist (generate.py --check says they are up to date)
        for nb in (en, zh):
            nbformat.validate(nb)
            assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code"), "commit without outputs"
        assert gen.notebook_name(source) in {p.name for p in (LABS / "zh").glob("*.ipynb")}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_code_cells_are_the_same_except_the_lang_value(source):
    en, zh = _editions(source)
    assert [(c.id, c.cell_type) for c in en.cells] == [(c.id, c.cell_type) for c in zh.cells]
    differ = [(a.id, a.source, b.source) for a, b in zip(en.cells, zh.cells, strict=True)
              if a.cell_type == "code" and a.source != b.source]
    assert [d[0] for d in differ] == ["parameters"], differ
    _, en_params, zh_params = differ[0]
    assert re.search(r'^lang = "en"', en_params, re.MULTILINE)
    assert zh_params == en_params.replace('lang = "en"', 'lang = "zh"', 1)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_markdown_cell_has_its_chinese_counterpart_with_the_same_steps(source):
    en, zh = _editions(source)
    pairs = [(a, b) for a, b in zip(en.cells, zh.cells, strict=True) if a.cell_type == "markdown"]
    assert len(pairs) >= 5
    for a, b in pairs:
        assert CJK.search(b.source), f"cell {b.id} of the Chinese edition has no Chinese text"
        assert a.source != b.source
        en_heads, zh_heads = _headings(a.source), _headings(b.source)
        assert [h.split(" ", 1)[0] for h in en_heads] == [h.split(" ", 1)[0] for h in zh_heads], b.id
        for e, z in zip(en_heads, zh_heads, strict=True):
            step = EN_STEP.match(e)
            assert bool(step) == bool(ZH_STEP.match(z)), f"{e!r} is translated as {z!r}"
            if step:
                assert ZH_STEP.match(z).group(1) == step.group(1), f"{e!r} is translated as {z!r}"
            assert CJK.search(z), f"heading {z!r} is not translated"
    zh_steps = [int(m.group(1)) for _, b in pairs for h in _headings(b.source) if (m := ZH_STEP.match(h))]
    assert zh_steps == list(range(1, len(zh_steps) + 1)) and len(zh_steps) >= 2


def _imported(tree: ast.Module) -> dict[str, object]:
    """The names the source's import statements bind (the notebook's ``viz``, ``outlier``, ``checks``, …)."""
    ns: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            exec(compile(ast.Module([node], []), "<imports>", "exec"), ns)  # our own sources
    return ns


def _resolve(node: ast.expr, ns: dict[str, object]) -> object | None:
    if isinstance(node, ast.Name):
        return ns.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, ns)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _passes_lang(call: ast.Call, params: list[inspect.Parameter]) -> bool:
    lang = next(p for p in params if p.name == "lang")
    if lang.kind is inspect.Parameter.POSITIONAL_ONLY:  # t(key, lang, /, **fields)
        index = params.index(lang)
        arg = call.args[index] if len(call.args) > index else None
    else:
        arg = next((k.value for k in call.keywords if k.arg == "lang"), None)
    return isinstance(arg, ast.Name) and arg.id == "lang"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_lablib_call_that_writes_text_gets_lang(source):
    tree = ast.parse(source.read_text(encoding="utf-8"))
    ns = _imported(tree)
    checked, missing = 0, []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        fn = _resolve(call.func, ns)
        if fn is None or not callable(fn):
            continue
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            continue
        if any(p.name == "lang" for p in params):
            checked += 1
            if not _passes_lang(call, params):
                missing.append(f"{source.name}:{call.lineno}: {ast.unparse(call.func)}() without lang=lang")
    assert not missing, "\n".join(missing)
    assert checked >= 5, f"only {checked} calls take lang: the check did not see the notebook's calls"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_code_cells_write_no_english_sentence_of_their_own(source):
    # Text a code cell hands to lablib (a title, a label, a check's reason) comes from the catalogue.
    tree = ast.parse(source.read_text(encoding="utf-8"))
    phrases = [(n.lineno, n.value) for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and PHRASE.search(n.value)]
    assert not phrases, phrases


def test_chinese_paragraphs_are_joined_where_a_line_break_would_show_as_a_space():
    gen = _generate()
    text = ["## 第 1 步：启动", "", "实例连续出错后，", "就把它驱逐出去，时长为", "`baseEjectionTime`。", "",
            "* 一，", "  二", "* 三", "", "```", "甲", "乙", "```"]
    joined = ["## 第 1 步：启动", "", "实例连续出错后，就把它驱逐出去，时长为", "`baseEjectionTime`。", "",
              "* 一，二", "* 三", "", "```", "甲", "乙", "```"]
    assert gen.join_wide_lines("\n".join(text)) == "\n".join(joined)
    for source in SOURCES:
        _, zh = _editions(source)
        for cell in zh.cells:
            text = re.sub(r"(?s)```.*?```", "", cell.source) if cell.cell_type == "markdown" else ""
            assert not re.search(r"[\u3400-\u9fff，。；：、）]\n[\u3400-\u9fff（]", text), cell.id


# -- the generator's checks of a bilingual source ------------------------------------------------------------

PARAMS = '# %% id="parameters" tags=["parameters"]\nlang = "en"\n'
TITLE = '# %% [markdown] id="title"\n# # T\n'
TITLE_ZH = '# %% [markdown] lang="zh"\n# # 标题\n'


@pytest.mark.parametrize(
    ("cells", "line", "message"),
    [
        (TITLE + "\n" + PARAMS, 2, "cell 'title' lacks its zh text"),
        (PARAMS + "\n" + TITLE_ZH, 5, 'lang="zh" cell without an English markdown cell above'),
        (TITLE + "\n" + TITLE_ZH + "\n" + TITLE_ZH + "\n" + PARAMS, 8,
         "second lang=\"zh\" text for line 2's cell"),
        (TITLE + '\n# %% [markdown] lang="zh"\n# # Title\n\n' + PARAMS, 5,
         'the lang="zh" text has no zh characters'),
        (TITLE + '\n# %% [markdown] lang="fr"\n# # Titre\n\n' + PARAMS, 5, "unknown edition lang='fr'"),
        (TITLE + '\n# %% [markdown] id="t2" lang="zh"\n# # 标题\n\n' + PARAMS, 5,
         "a translation is a markdown cell with no other option"),
        (TITLE + "\n" + TITLE_ZH + '\n# %% id="parameters" tags=["parameters"]\nx = 1\n', 8,
         'no parameters cell with a line lang = "en"'),
        (TITLE + "\n" + TITLE_ZH, 1, 'no parameters cell with a line lang = "en"'),
    ],
)
def test_a_bad_bilingual_source_stops_with_a_positioned_error(tmp_path, cells, line, message):
    gen = _generate()
    src = tmp_path / "lab09.py"
    src.write_text("# Source of labs/09-x.ipynb\n" + cells, encoding="utf-8")
    with pytest.raises(gen.NotebookSourceError) as e:  # lines count from the file's first line
        gen.build(src)
    assert str(e.value).startswith(f"{src}:{line}: {message}; "), str(e.value)


def test_the_generator_writes_both_editions_of_any_number_of_labs(tmp_path, monkeypatch):
    gen = _generate()
    tools, labs = tmp_path / "tools", tmp_path / "labs"
    tools.mkdir()
    labs.mkdir()
    for n in (1, 3):
        (tools / f"lab0{n}.py").write_text(f"# Source of labs/0{n}-x.ipynb\n\n{TITLE}\n{TITLE_ZH}\n{PARAMS}",
                                           encoding="utf-8")
    (tools / "helper.py").write_text("x = 1\n", encoding="utf-8")  # not a lab source
    monkeypatch.setattr(gen, "TABLE", [LabInfo(f"0{n}", f"0{n}-x.ipynb", "lablib.labs.x") for n in (1, 3)])
    monkeypatch.setattr(gen, "HERE", tools)
    monkeypatch.setattr(gen, "LABS", labs)
    monkeypatch.setattr(gen, "EDITIONS", {"en": labs, "zh": labs / "zh"})
    assert gen.main(["--check"]) == 1  # nothing written yet
    assert gen.main([]) == 0
    made = sorted(str(p.relative_to(labs)) for p in labs.rglob("*.ipynb"))
    assert made == ["01-x.ipynb", "03-x.ipynb", "zh/01-x.ipynb", "zh/03-x.ipynb"]
    zh = nbformat.read(labs / "zh" / "03-x.ipynb", as_version=4)
    assert [c.source for c in zh.cells] == ["# 标题", 'lang = "zh"']
    assert [c.id for c in zh.cells] == ["title", "parameters"]
    assert gen.main(["--check"]) == 0


# -- the Chinese editions, executed -------------------------------------------------------------------------

#: fortio's own report, printed as the real fortio prints it (its words are the tool's, kept in every edition)
FORTIO_REPORT = re.compile(r"^Fortio \d|^Aggregated Function Time|^Socket and IP used for each connection",
                           re.MULTILINE)
#: fortio's own log lines (fortio.org/log JSON on stderr, e.g. "Non ok http code"): tool output, kept as
#: fortio prints it, like commands and stat names.
FORTIO_LOG = re.compile(r'^\{"ts":.*"msg":.*$', re.MULTILINE)
_VERBATIM = re.compile(r"(?is)<(script|style|pre|code)\b.*?</\1>")


def output_texts(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """``(cell id, text)`` a student reads in the executed notebook's outputs: HTML without its code blocks
    (files and YAML are shown verbatim, in code font), plain text of non-widget outputs, printed text."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if "text/html" in data:
                text = _VERBATIM.sub(" ", "".join(data["text/html"]))
                texts.append((cell.id, html.unescape(re.sub(r"<[^>]+>", " ", text))))
            elif "text/plain" in data and "application/vnd.jupyter.widget-view+json" not in data:
                texts.append((cell.id, "".join(data["text/plain"])))
            elif out.get("output_type") == "stream":
                text = "".join(out["text"])
                if not FORTIO_REPORT.search(text):
                    texts.append((cell.id, FORTIO_LOG.sub("", text)))
    return texts


def progress_labels(nb: nbformat.NotebookNode) -> list[str]:
    """The last message of every progress bar (``lablib.notebook.ProgressBar``'s label), from the saved
    widgets."""
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    models = saved.get("state", {}).values()
    values = [m.get("state", {}).get("value", "") for m in models if m.get("model_name") == "HTMLModel"]
    return [html.unescape(re.sub(r"<[^>]+>", "", v)) for v in values
            if isinstance(v, str) and v.startswith("<span style='font-family:monospace'>")]


@pytest.mark.envoy
@pytest.mark.parametrize("info", LAB_TABLE, ids=lambda info: info.number)
def test_chinese_notebook_runs_in_chinese_and_leaks_no_english(info, lab_run):
    # the session's one run of the Chinese edition (the lab's own execution test reads the same run)
    run = lab_run(info.number, "zh")
    checks = assert_ran_clean(run, checks=info.checks)
    nb = run.notebook
    assert all(CJK.search(h) for _, h in checks), "verdicts are in Chinese"
    texts = output_texts(nb)
    prose = [t for cid, t in texts if CJK.search(t) and "lablib-check" not in t and len(t) > 80]
    assert prose, "no Chinese explanation or table in the outputs"
    leaks = {cid: PHRASE.findall(t) for cid, t in texts if PHRASE.findall(t)}
    assert not leaks, leaks
    warnings = [t for _, t in texts if ": LabWarning: " in t]
    if info.number == "01":  # the seed's consecutiveErrors, shown where the rule is applied
        assert warnings and all(CJK.search(w) for w in warnings), warnings
    labels = progress_labels(nb)  # labs 02 and 04 show no progress bar
    assert all(CJK.search(label) for label in labels), labels
    assert labels or info.number != "01"
    assert f"{MARKER_VAR}=" not in str(texts)  # sanity: the scan read the outputs, not the environment
