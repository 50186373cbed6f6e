"""The run-time text of the labs in each language: message catalogues per language, looked up by key.

Every sentence lablib writes for a student (explanations, check verdicts, table headers, plot titles,
widget labels) is a ``str.format`` template under the same key in every language; the code computes the
numbers once and only the template depends on the language. Placeholders (``{name}``, ``{name:spec}``) match
in every language. A key missing from a catalogue is an error, never a silent fall-back to English. Terms
follow ``docs/glossary.md``; Istio fields, Envoy stats, response flags and commands stay as they are in every
language.

Files: a key lives in the file named for its first segment, one per language: ``outlier.rule.why.unset`` is in
``outlier.en.yaml`` and ``outlier.zh.yaml`` (a new prefix is a new pair of files). The loader refuses a key in
another file, at FILE:LINE.

Reviews (gettext's "fuzzy" flag): ``zh.review.yaml`` records a short hash of the English each Chinese entry
was checked against; ``tests/i18n/test_review.py`` fails when an English text changed (or a key is new) and
its Chinese was not reviewed since, naming the key, the English then and now, and the command to run:

    .venv/bin/python -m lablib.i18n.review                 # what waits for review
    .venv/bin/python -m lablib.i18n.review KEY [KEY ...]   # after checking (and fixing) their Chinese

Editing only a Chinese text needs no record (see ``lablib.i18n.review``).

Text made far from the notebook (errors, manifest problems, warnings, progress) is a ``Msg``: its English
text as a ``str``, rendered in the notebook's language where it is shown (``render``; see ``_message``).
"""

from lablib.i18n._catalog import (
    DEFAULT_LANG,
    LANGS,
    CatalogueError,
    LanguageError,
    MissingMessage,
    catalogue,
    catalogue_files,
    check_lang,
    fields,
    file_of,
    read_catalogue,
    t,
)
from lablib.i18n._message import Joined, Msg, render

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "CatalogueError",
    "Joined",
    "LanguageError",
    "MissingMessage",
    "Msg",
    "catalogue",
    "catalogue_files",
    "check_lang",
    "fields",
    "file_of",
    "read_catalogue",
    "render",
    "t",
]
