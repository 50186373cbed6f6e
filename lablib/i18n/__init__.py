"""The run-time text of the labs in each language: one message catalogue per language, looked up by key.

Every sentence lablib writes for a student (explanations, check verdicts, table headers, plot titles,
widget labels) is a ``str.format`` template in ``en.yaml`` and ``zh.yaml`` under the same key; the code
computes the numbers once and only the template depends on the language. A key missing from a catalogue is
an error, never a silent fall-back to English. Terms follow ``docs/glossary.md``; Istio fields, Envoy stats,
response flags and commands stay as they are in every language.

Text made far from the notebook (errors, manifest problems, warnings, progress) is a ``Msg``: its English
text as a ``str``, rendered in the notebook's language where it is shown (``render``; see ``_message``).
"""

from lablib.i18n._catalog import (
    DEFAULT_LANG,
    LANGS,
    LanguageError,
    MissingMessage,
    catalogue,
    catalogue_files,
    check_lang,
    fields,
    t,
)
from lablib.i18n._message import Joined, Msg, render

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "Joined",
    "LanguageError",
    "MissingMessage",
    "Msg",
    "catalogue",
    "catalogue_files",
    "check_lang",
    "fields",
    "render",
    "t",
]
