"""The lab's exceptions, grouped by cause.

    LabError                      every error the lab raises on purpose
    ├── ManifestError             one bad manifest: file, line, column, Kind/name, field path, problem, fix
    │   ├── YAMLSyntaxError       the file is not YAML (full-width punctuation included)
    │   ├── UnknownKindError      a kind the lab does not support
    │   └── SchemaError           a field that is unknown, of the wrong type or out of range
    ├── ValidationFailed          a set of files had errors; carries every Problem; nothing was applied
    ├── ParameterError            a notebook parameter the lab cannot use (also a ValueError)
    ├── BackendError              a backend could not do what was asked
    │   ├── BackendUnavailable    the backend cannot run here (no docker, no kind, no envoy), with the reason
    │   ├── EnvoyError            Envoy rejected a config or died; carries Envoy's own text
    │   ├── ClusterSafetyError    the Kubernetes context is not one the lab may touch; says how to allow it
    │   └── LabNotRunning         an operation needs a running lab and there is none
    └── FortioError               the load generator failed
        └── FortioUsageError      bad flags or URL (like fortio's own usage errors)

    LabWarning (a UserWarning)    a manifest problem that does not stop the lab; shown, never raised

Errors print as one line a student can act on; ManifestError prints as
``file:line:col: Kind/name: spec.path: problem (fix)`` like a compiler.

Messages are ``lablib.i18n.Msg``: English as ``str(error)``; ``error.in_lang("zh")`` is the same error in the
notebook's language (what ``lablib.notebook.language`` shows instead of a traceback).

This module imports nothing from lablib: lablib.i18n (whose own errors are LabErrors) sits above it.
Messages are rendered duck-typed (anything with ``in_lang``); its own few texts (``lab.*`` keys) are read
through the ``t`` that lablib.i18n installs with ``use_catalogue`` when imported (``import lablib`` does).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ClusterSafetyError",
    "EnvoyError",
    "FortioError",
    "FortioUsageError",
    "LabError",
    "LabNotRunning",
    "LabWarning",
    "ManifestError",
    "ParameterError",
    "SchemaError",
    "UnknownKindError",
    "ValidationFailed",
    "YAMLSyntaxError",
]


#: lablib.i18n's ``t(key, lang, **values)``, installed by lablib.i18n when it is imported.
_catalogue: Callable[..., str] | None = None


def use_catalogue(t: Callable[..., str]) -> None:
    """How these errors read their catalogue messages; called once by lablib.i18n (a hook, not an import,
    so that the dependency points one way)."""
    global _catalogue
    _catalogue = t


def _t(key: str, lang: str, /, **values: object) -> str:
    if _catalogue is None:  # unreachable through `import lablib`, which imports lablib.i18n
        raise RuntimeError(f"message {key!r}: lablib.i18n is not imported; import lablib first")
    return _catalogue(key, lang, **values)


def _in(text: object, lang: str) -> str:
    # Duck-typed (a Msg has in_lang): this module sits below lablib.i18n, which imports it.
    return str(text.in_lang(lang)) if hasattr(text, "in_lang") else str(text)


class LabError(Exception):
    """Base of every error the lab raises on purpose."""

    def in_lang(self, lang: str) -> str:
        """This error in ``lang``: its message (a ``Msg``) rendered there; a plain ``str`` as it is."""
        if len(self.args) == 1:
            return _in(self.args[0], lang)
        return str(self)


class LabWarning(UserWarning):
    """A problem that does not stop the lab (``http2MaxRequests: 0`` means unlimited), like the API server's
    ``Warning:`` headers. Issued with ``warnings.warn_explicit`` at the manifest's FILE:LINE, so a notebook
    shows it under the cell and the CLI prints it as ``Warning: FILE:LINE: …`` (see lablib.manifests).
    ``text`` is what the warning says (a ``Msg``, or a ``Problem``'s text), so a notebook can show it in its
    own language (``in_lang``)."""

    def __init__(self, text: object = "") -> None:
        self.text = text
        super().__init__(str(text))

    def in_lang(self, lang: str) -> str:
        return _in(self.text, lang)


class ManifestError(LabError):
    """One problem in one manifest, with its position and the fix."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        kind: str | None = None,
        name: str | None = None,
        path: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.kind = kind
        self.name = name
        self.path = path
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.in_lang("en")

    def in_lang(self, lang: str) -> str:
        where = self.file or "<manifest>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [where]
        if self.kind:
            parts.append(f"{self.kind}/{self.name}" if self.name else self.kind)
        if self.path:
            parts.append(self.path)
        text = ": ".join(parts) + f": {_in(self.message, lang)}"
        if self.fix:
            text += f" ({_in(self.fix, lang)})"
        return text


class YAMLSyntaxError(ManifestError):
    """The file is not valid YAML."""


class UnknownKindError(ManifestError):
    """A kind (or apiVersion) the lab does not support."""


class SchemaError(ManifestError):
    """A field that is unknown, of the wrong type, or out of range."""


class ValidationFailed(LabError):
    """Validation found errors; nothing was applied. ``problems`` holds every problem (warnings too)."""

    def __init__(self, problems: list) -> None:  # list[lablib.manifests.Problem]
        self.problems = problems
        super().__init__(self.in_lang("en"))

    def in_lang(self, lang: str) -> str:
        errors = [p for p in self.problems if getattr(p, "severity", "error") == "error"]
        lines = "\n".join(p.in_lang(lang) if hasattr(p, "in_lang") else str(p) for p in errors)
        return _t("lab.validation_failed", lang, n=len(errors)) + f"\n{lines}"


class ParameterError(LabError, ValueError):
    """A value from a notebook's parameters cell the lab cannot use (``workers = 0``, a duration ``"3x"``),
    said in the notebook's language. Also a ``ValueError``, as these checks raised before."""


class BackendError(LabError):
    """A backend could not do what was asked."""


class BackendUnavailable(BackendError):
    """The backend cannot run on this machine; the message says what is missing and how to get it."""


class EnvoyError(BackendError):
    """Envoy rejected a configuration or exited; ``envoy_output`` is Envoy's own text."""

    def __init__(self, message: str, *, envoy_output: str = "") -> None:
        self.message = message
        self.envoy_output = envoy_output
        super().__init__(self.in_lang("en"))

    def in_lang(self, lang: str) -> str:
        if not self.envoy_output:
            return _in(self.message, lang)
        return f"{_in(self.message, lang)}\n{_t('lab.envoy_said', lang)}\n{self.envoy_output}"


class ClusterSafetyError(BackendError):
    """The current Kubernetes context is not one the lab created or was allowed to use."""


class LabNotRunning(BackendError):
    """The operation needs a running lab and none is running."""


class FortioError(LabError):
    """The load generator failed."""


class FortioUsageError(FortioError):
    """Bad flags or URL, reported like fortio's own usage errors."""
