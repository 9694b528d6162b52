"""The server's table of handlers, which pygls reads before any handler is loaded: each entry
names a function that exists, and says rightly whether it is a coroutine function (pygls awaits a
coroutine's result; a sync proxy in front of a coroutine function would answer with a coroutine)."""

import inspect
from importlib import import_module

import pytest

from hybridlsp.lsp.server import COMMANDS, FEATURES

ENTRIES = [(m, f, a) for _, m, f, a in FEATURES.values()] + list(COMMANDS.values())


@pytest.mark.parametrize(("module", "function", "is_async"), ENTRIES, ids=[f"{m}.{f}" for m, f, _ in ENTRIES])
def test_each_entry_names_its_handler_and_its_kind(module, function, is_async):
    handler = getattr(import_module(f"hybridlsp.lsp.{module}"), function)
    assert inspect.iscoroutinefunction(handler) is is_async
