"""A notebook's language for what lablib shows outside the values a cell returns: errors and warnings.

``set_language(lang)`` (the imports cell of every lab) makes the kernel show
- a lablib error (``LabError``) as its message in ``lang``, one line a student can act on, not a traceback
  (``IPython`` ``set_custom_exc``; any other exception is a lablib bug and keeps its traceback);
- a manifest warning (``LabWarning``) in ``lang``, still at its ``FILE:LINE`` with the YAML line under it.
Progress bars take ``lang`` themselves (``progress_bar(title, lang=lang)``). Being the first call of every
lab, it also makes the kernel's plotly figures survive export (``lablib.notebook.export``).
"""

from __future__ import annotations

import warnings
from typing import Any

from lablib._exceptions import LabError, LabWarning
from lablib.i18n import DEFAULT_LANG, check_lang, render, t
from lablib.notebook.export import use_export_renderer

__all__ = ["error_text", "set_language"]

_lang = DEFAULT_LANG
_plain_format = warnings.formatwarning


def error_text(error: BaseException, lang: str) -> str:
    """What a notebook shows for ``error``: its class and its message in ``lang``."""
    return t("notebook.error", lang, error=type(error).__name__, message=render(error, lang))


def set_language(lang: str, /) -> str:
    """Show lablib's errors and warnings in ``lang`` in this kernel from now on; returns ``lang``.

    Raises ``LanguageError`` (with what to write) when ``lang`` is not one of the catalogues' languages.
    """
    global _lang
    _lang = check_lang(lang)
    warnings.formatwarning = _format_warning
    use_export_renderer()
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: errors keep Python's own display
        return _lang
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((LabError,), _show_error)
    return _lang


def _show_error(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
                tb_offset: int | None = None) -> None:
    # IPython's run_code hands a custom exception to this handler and ignores what it returns, so it shows
    # the message itself, through the hook a kernel uses for tracebacks (ipykernel sends it as the cell's
    # error output, red, in place of the traceback; papermill still fails the cell).
    shell._showtraceback(etype, value, [f"\x1b[0;31m{error_text(value, _lang)}\x1b[0m"])


def _format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    if isinstance(message, LabWarning):
        message = message.in_lang(_lang)
    return _plain_format(message, category, filename, lineno, line)
