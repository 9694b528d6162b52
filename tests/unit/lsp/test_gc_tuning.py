"""`serve` tunes the garbage collector for the server's own process: what start-up built is frozen
once the engine is loaded, and the youngest generation is collected less often, far less once
started. A server built
in another process (tests, `hybridlsp demo`'s client side) leaves that process's collector alone."""

from __future__ import annotations

import gc

from lsprotocol import types

from hybridlsp.config import settings_from_mapping
from hybridlsp.lsp import server as server_module


def _started(ls) -> None:
    ls.initialize_params = types.InitializeParams(capabilities=types.ClientCapabilities())
    ls.start()


def test_serve_freezes_what_start_up_built_and_collects_the_young_less_often(monkeypatch):
    seen = {}

    def stdio(ls, stdin, stdout):  # instead of serving: start as `initialized` would, and look
        before = gc.get_freeze_count()
        seen["starting"] = gc.get_threshold()
        _started(ls)
        seen["frozen"] = gc.get_freeze_count() - before
        seen["threshold"] = gc.get_threshold()

    monkeypatch.setattr(server_module, "serve_stdio", stdio)
    monkeypatch.setattr(server_module, "_claim_stdout", lambda: None)
    saved = gc.get_threshold()
    try:
        server_module.serve(settings=settings_from_mapping({}), engine_factory=lambda settings: object())
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
    assert seen["frozen"] > 0
    assert seen["starting"] == (server_module.GC_START_THRESHOLD, *saved[1:])
    assert seen["threshold"] == (server_module.GC_THRESHOLD, *saved[1:])
    assert server_module.GC_THRESHOLD > server_module.GC_START_THRESHOLD


def test_a_server_built_in_another_process_leaves_its_collector_alone():
    ls = server_module.build_server(engine_factory=lambda settings: object(), settings=settings_from_mapping({}))
    before, threshold = gc.get_freeze_count(), gc.get_threshold()
    _started(ls)
    assert gc.get_freeze_count() == before and gc.get_threshold() == threshold
