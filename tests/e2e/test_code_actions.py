"""The four code actions, listed cheaply and run end to end, as Neovim and as VS Code."""

import json
import re
from pathlib import Path

from lsprotocol import types as t
from pygls.uris import to_fs_path
from pytest_lsp import client_capabilities

from .conftest import session


async def test_four_actions_preview_their_decision_without_calling_a_model(lsp, fake_ollama, fake_openai):
    uri = lsp.open(lsp.root / "calc.py")
    actions = await lsp.actions(uri, (4, 8))  # inside divide(), nothing selected
    titles = [a.title for a in actions]
    assert len(titles) == 4, titles
    assert re.fullmatch(r"Complete - local model-a \(\d+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", titles[0])
    assert re.fullmatch(r"Explain - local model-a \(\d+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", titles[1])
    assert re.fullmatch(r"Review - local model-b \(\d+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", titles[2])
    assert re.fullmatch(r"Commit message - local model-a \(\d+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", titles[3])
    for a in actions:
        assert isinstance(a, t.CodeAction) and a.edit is None and a.command is None  # resolved later
        assert a.data["textDocument"]["uri"] == uri
    assert fake_ollama.request_count == 0 and fake_openai.request_count == 0


async def test_a_long_selection_previews_cloud(lsp):
    path = lsp.root / "big.py"
    path.write_text("".join(f"value_{i} = compute(value_{i - 1}, {i})  # step {i}\n" for i in range(1, 900)))
    uri = lsp.open(path)
    actions = await lsp.actions(uri, (0, 0), (898, 0))
    explain = next(a for a in actions if a.title.startswith("Explain"))
    assert re.fullmatch(r"Explain - cloud gpt-4\.1 \([\d,]+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", explain.title)


async def test_complete_inserts_at_the_cursor(lsp, fake_ollama):
    fake_ollama.answer = "    return a * b"
    path = lsp.root / "ops.py"
    path.write_text("def multiply(a, b):\n")
    uri = lsp.open(path)
    action = await lsp.action(uri, "Complete", (1, 0))
    resolved = await lsp.client.code_action_resolve_async(action)
    (edit,) = resolved.edit.changes[uri]
    assert edit.range == t.Range(t.Position(1, 0), t.Position(1, 0))
    assert edit.new_text == "    return a * b"
    (request,) = fake_ollama.requests
    assert request.json["model"] == "model-a" and "def multiply(a, b):" in request.json["messages"][-1]["content"]


async def test_complete_inserts_after_the_selection(lsp, fake_ollama):
    fake_ollama.answer = "    return a - b"
    path = lsp.root / "ops.py"
    path.write_text("def subtract(a, b):\n\n\ndef unrelated():\n    pass\n")
    uri = lsp.open(path)
    action = await lsp.action(uri, "Complete", (0, 0), (1, 0))
    resolved = await lsp.client.code_action_resolve_async(action)
    (edit,) = resolved.edit.changes[uri]
    assert edit.range.start == t.Position(1, 0)
    assert edit.new_text == "    return a - b"


async def test_explain_opens_a_markdown_result_document(lsp, fake_ollama):
    fake_ollama.answer = "Divides a by b and returns the quotient."
    uri = lsp.open(lsp.root / "calc.py")
    action = await lsp.action(uri, "Explain", (4, 4))
    await lsp.client.code_action_resolve_async(action)
    (shown,) = lsp.client.shown_documents
    path = Path(to_fs_path(shown.uri))
    assert path.suffix == ".md" and shown.take_focus
    body = path.read_text()
    assert "Divides a by b and returns the quotient." in body
    assert "calc.py lines 4-6" in body and "ollama model-a" in body
    # why this tier, and what the difficulty estimate saw
    assert "*routed because explain of " in body and "tokens -> tier 1; cold-start estimate (not deciding): " in body
    assert re.search(r"p\(tier 1 enough\) [01]\.\d\d, p\(tier 2 enough\) [01]\.\d\d; moved by ", body)


async def test_explain_falls_back_to_a_message_where_documents_cannot_be_shown(server_env, repo, fake_ollama):
    fake_ollama.answer = "Divides a by b and returns the quotient."
    async with session(server_env, client_capabilities("neovim@v0.7"), repo) as lsp:
        uri = lsp.open(repo / "calc.py")
        action = await lsp.action(uri, "Explain", (4, 4))
        await lsp.client.code_action_resolve_async(action)
        assert lsp.client.shown_documents == []
        assert any("Divides a by b and returns the quotient." in m.message for m in lsp.client.messages)


async def test_review_publishes_diagnostics_with_quick_fixes(lsp, fake_ollama):
    fix = "    result = a / b if b else float('nan')"
    fake_ollama.answer = json.dumps(
        {
            "findings": [
                {"line": 5, "severity": "error", "message": "division by zero when b is 0", "fix": fix},
                {"line": 6, "severity": "info", "message": "return the expression directly"},
            ]
        }
    )
    uri = lsp.open(lsp.root / "calc.py")
    action = await lsp.action(uri, "Review", (4, 4))
    published = lsp.client.protocol.wait_for_notification_async(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    resolved = await lsp.client.code_action_resolve_async(action)
    await published
    assert resolved.edit is None
    assert fake_ollama.requests[0].json["model"] == "model-b"
    error, info = lsp.client.diagnostics[uri]
    assert error.source == info.source == "hybridlsp"
    assert error.range == t.Range(t.Position(4, 0), t.Position(4, len("    result = a / b")))
    assert error.severity == t.DiagnosticSeverity.Error and "division by zero" in error.message
    assert info.range.start.line == 5 and info.severity == t.DiagnosticSeverity.Information

    fixes = [a for a in await lsp.actions(uri, (4, 6)) if a.kind == t.CodeActionKind.QuickFix]
    (quick,) = fixes
    (edit,) = quick.edit.changes[uri]
    assert edit.range == t.Range(t.Position(4, 0), t.Position(5, 0)) and edit.new_text == fix + "\n"
    assert [a for a in await lsp.actions(uri, (5, 0)) if a.kind == t.CodeActionKind.QuickFix] == []

    # a line inserted above moves the findings with their code
    republished = lsp.client.protocol.wait_for_notification_async(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    lsp.client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [t.TextDocumentContentChangePartial(range=t.Range(t.Position(1, 0), t.Position(1, 0)), text="import sys\n")],
        )
    )
    await republished
    assert [d.range.start.line for d in lsp.client.diagnostics[uri]] == [5, 6]


async def test_commit_message_is_inserted_at_the_top_of_a_gitcommit_buffer(lsp, fake_ollama):
    fake_ollama.answer = "Add a double helper\n\nIt returns twice its argument."
    path = lsp.root / ".git" / "COMMIT_EDITMSG"
    path.write_text("\n# Please enter the commit message for your changes.\n")
    uri = lsp.open(path, language="gitcommit")
    action = await lsp.action(uri, "Commit message", (0, 0))
    resolved = await lsp.client.code_action_resolve_async(action)
    (edit,) = resolved.edit.changes[uri]
    assert edit.range == t.Range(t.Position(0, 0), t.Position(0, 0))
    assert edit.new_text == "Add a double helper\n\nIt returns twice its argument.\n"
    sent = fake_ollama.requests[0].json["messages"][-1]["content"]
    assert "def double(x):" in sent  # the staged diff reached the model


async def test_commit_message_elsewhere_is_shown(lsp, fake_ollama):
    fake_ollama.answer = "Add a double helper"
    uri = lsp.open(lsp.root / "calc.py")
    action = await lsp.action(uri, "Commit message", (4, 4))
    resolved = await lsp.client.code_action_resolve_async(action)
    assert resolved.edit is None
    (shown,) = lsp.client.shown_documents
    assert "Add a double helper" in Path(to_fs_path(shown.uri)).read_text()


async def test_a_failed_run_is_reported_not_raised(lsp, fake_ollama, fake_openai):
    fake_ollama.down()  # every tier unreachable, and no embedded model in these settings
    fake_openai.down()
    uri = lsp.open(lsp.root / "calc.py")
    action = await lsp.action(uri, "Review", (4, 4))
    resolved = await lsp.client.code_action_resolve_async(action)
    assert resolved.edit is None
    assert any("Review failed" in m.message and m.type == t.MessageType.Error for m in lsp.client.messages)
    assert not any("embedded" in m.message for m in lsp.client.messages)  # it is off here: not said


async def test_answers_that_fail_their_check_are_shown_as_a_failure_with_the_tier(lsp, fake_ollama, fake_openai):
    fake_ollama.answer = fake_openai.answer = "```\nOutput: 1.1.1.1\n```"  # junk from every tier
    uri = lsp.open(lsp.root / "calc.py")
    for label, why in (("Review", "no JSON object"), ("Commit message", "is not a subject line"),
                       ("Complete", "does not parse as python")):
        action = await lsp.action(uri, label, (4, 4))
        resolved = await lsp.client.code_action_resolve_async(action)
        assert resolved.edit is None
        (failed,) = [m for m in lsp.client.messages if m.message.startswith(f"hybridlsp: {label} failed")]
        assert failed.type == t.MessageType.Error
        assert why in failed.message and "tier2:ollama/model-b: failed the check" in failed.message
    assert lsp.client.shown_documents == [] and "1.1.1.1" not in json.dumps(lsp.client.diagnostics)


async def test_clients_without_resolve_get_a_command_that_applies_the_edit(server_env, repo, fake_ollama):
    caps = client_capabilities("visual_studio_code")
    caps.text_document.code_action.resolve_support = None
    applied: list[t.ApplyWorkspaceEditParams] = []
    fake_ollama.answer = "    return a * b"
    path = repo / "ops.py"
    path.write_text("def multiply(a, b):\n")
    async with session(server_env, caps, repo) as lsp:

        @lsp.client.feature(t.WORKSPACE_APPLY_EDIT)
        def apply_edit(params: t.ApplyWorkspaceEditParams):
            applied.append(params)
            return t.ApplyWorkspaceEditResult(applied=True)

        uri = lsp.open(path)
        action = await lsp.action(uri, "Complete", (1, 0))
        assert action.command.command == "hybridlsp.run"
        result = await lsp.client.workspace_execute_command_async(
            t.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
        )
        assert result["text"] == "    return a * b" and result["request_id"]
        (params,) = applied
        (edit,) = params.edit.changes[uri]
        assert edit.range.start == t.Position(1, 0) and edit.new_text == "    return a * b"
