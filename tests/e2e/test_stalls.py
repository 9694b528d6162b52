"""In a real LSP session: when the tier streaming an answer stalls half-way, the editor is told the
streamed part is dropped and which tier answers instead (`window/showMessage`), the progress text
is cleared (an empty report), and the result comes from that tier."""

import pytest
from lsprotocol import types as t
from pytest_lsp import client_capabilities

from .conftest import EDITORS, session


@pytest.mark.parametrize("editor", EDITORS)
async def test_a_stall_is_said_and_the_next_tier_answers(server_env, repo, fake_ollama, fake_openai, editor):
    fake_ollama.answer = "Divides a by b and returns the result, raising on zero."
    fake_openai.answer = "Divides a by b; b may not be 0."  # long enough to pass the check
    fake_ollama.inject("stall")
    options = {"dispatch": {"readTimeoutS": 0.3}}
    async with session(server_env, client_capabilities(editor), repo, initialization_options=options) as lsp:
        uri = lsp.open(lsp.root / "calc.py")
        rng = {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 4}}
        res = await lsp.run({"action": "explain", "textDocument": {"uri": uri}, "range": rng, "workDoneToken": "s1"})
        said = [m.message for m in lsp.client.messages if "dropped" in m.message]
        shown = [r.message for r in lsp.client.progress_reports["s1"] if isinstance(r, t.WorkDoneProgressReport)]
    assert res["answered_by"] == {"tier": 3, "backend": "openai", "model": "gpt-4.1"}
    assert [f["reason"] for f in res["fallbacks"]] == ["timeout", "host-down"]
    assert len(said) == 1, [m.message for m in lsp.client.messages]
    assert "tier1:ollama/model-a timeout: the stream went silent for 0.3 s" in said[0]
    assert "escalating to tier3:openai/gpt-4.1, which answers instead" in said[0]
    assert fake_ollama.request_count == 1  # tier 2 is on the same host: not asked
    # the stalled tier's text, then an empty report (cleared), then only the answering tier's text
    assert shown[0] and "" in shown and "".join(shown[shown.index("") + 1:]) == "Divides a by b; b may not be 0."
