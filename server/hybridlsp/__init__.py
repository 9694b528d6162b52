"""hybridlsp: a language server that routes each AI request to the cheapest model tier that can
do it well. The layers, and a request's path through them: docs/architecture.md.

Two helpers every part may use: `version()`, and `lazy_names`, with which a package's
`__init__` re-exports its submodules' names loaded on first use (PEP 562).
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any, Callable, Mapping, Sequence

__all__ = ["version", "lazy_names", "__version__"]

__version__ = "0.1.0"


def version() -> str:
    """This package's version (the distribution's too: pyproject.toml reads it from here)."""
    return __version__


def lazy_names(
    package: str, where: Mapping[str, str], names: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's `__getattr__` and `__dir__`: `where` maps each name to its submodule, so
    importing the package stays cheap (a server answering `initialize` should not pay for httpx,
    GitPython or llama_cpp)."""

    def __getattr__(name: str) -> Any:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
