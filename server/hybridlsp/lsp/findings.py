"""Review findings as diagnostics, kept on their lines while the document is edited, and the
quick fixes offered for the ones that carry a fix."""

import dataclasses
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.workspace import TextDocument

from ..request import Finding
from .textutil import shift_spans
from .convert import SEVERITY, finding_range

if TYPE_CHECKING:
    from .server import HybridLanguageServer

__all__ = ["FindingsStore", "SOURCE", "did_change", "did_close"]

SOURCE = "hybridlsp"


class FindingsStore:
    """The last review's findings for each document."""

    def __init__(self) -> None:
        self._by_uri: dict[str, list[Finding]] = {}

    def replace(self, uri: str, findings: list[Finding]) -> None:
        self._by_uri[uri] = list(findings)

    def forget(self, uri: str) -> bool:
        return self._by_uri.pop(uri, None) is not None

    def follow_edits(self, uri: str, changes) -> bool:
        """Move findings below each edit, drop the ones it touched; True when anything moved."""
        findings = self._by_uri.get(uri)
        if not findings:
            return False
        before = list(findings)
        for change in changes:
            rng = getattr(change, "range", None)
            if rng is None:  # whole-document change: nothing is known to still hold
                findings = []
                break
            delta = change.text.count("\n") - (rng.end.line - rng.start.line)
            starts = shift_spans([(f.line, f.end_line) for f in findings], rng.start.line, rng.end.line, delta)
            findings = [
                dataclasses.replace(f, line=s, end_line=s + (f.end_line - f.line))
                for f, s in zip(findings, starts)
                if s is not None
            ]
        self._by_uri[uri] = findings
        return findings != before

    def diagnostics(self, doc: TextDocument) -> list[types.Diagnostic]:
        lines = doc.lines
        return [self._diagnostic(doc, lines, f) for f in self._by_uri.get(doc.uri, [])]

    @staticmethod
    def _diagnostic(doc: TextDocument, lines, f: Finding) -> types.Diagnostic:
        return types.Diagnostic(
            range=finding_range(doc, lines, f),
            message=f.message,
            severity=SEVERITY.get(f.severity, types.DiagnosticSeverity.Warning),
            source=SOURCE,
            code="review",
        )

    def quick_fixes(self, doc: TextDocument, rng: types.Range) -> list[types.CodeAction]:
        """A quick fix for each finding with a fix whose lines overlap `rng`."""
        findings = self._by_uri.get(doc.uri)
        if not findings:
            return []
        lines = doc.lines
        out = []
        for f in findings:
            if f.fix is None or f.line > rng.end.line or f.end_line < rng.start.line:
                continue
            out.append(
                types.CodeAction(
                    title=f"Fix: {f.message.splitlines()[0][:80]}" if f.message else "Apply the suggested fix",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[self._diagnostic(doc, lines, f)],
                    is_preferred=True,
                    edit=types.WorkspaceEdit(changes={doc.uri: [_replace_lines(doc, lines, f)]}),
                )
            )
        return out


def _replace_lines(doc: TextDocument, lines, f: Finding) -> types.TextEdit:
    """Replace whole lines f.line..f.end_line with the fix."""
    fix = f.fix or ""
    if f.end_line + 1 < len(lines):
        rng = types.Range(start=types.Position(f.line, 0), end=types.Position(f.end_line + 1, 0))
        return types.TextEdit(range=rng, new_text=fix if fix.endswith("\n") or not fix else fix + "\n")
    return types.TextEdit(range=finding_range(doc, lines, f), new_text=fix.rstrip("\n"))


def did_change(ls: "HybridLanguageServer", params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    if ls.findings.follow_edits(uri, params.content_changes):
        ls.publish_findings(ls.workspace.get_text_document(uri))


def did_close(ls: "HybridLanguageServer", params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    if ls.findings.forget(uri):
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
