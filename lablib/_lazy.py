"""A package's names loaded on first use (PEP 562): ``lablib`` and ``lablib.notebook`` each keep a table of
where their names live, so a process imports only the parts it asks for."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["loader"]


def loader(package: str, homes: Mapping[str, str | None], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: ``homes`` maps a name to the module that defines it (None: the name is
    a submodule of ``package``); a loaded name is kept in ``namespace`` (the package's globals), so it is
    looked up once."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = homes[name]
        module = importlib.import_module(f"{package}.{name}" if home is None else home)
        value = module if home is None else getattr(module, name)
        namespace[name] = value
        return value

    return __getattr__
