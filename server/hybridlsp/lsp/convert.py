"""Conversions between LSP shapes and the engine's: documents and ranges in, results out."""

from dataclasses import asdict, dataclass
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument

from ..actions import ACTION_MODULES, Shown, get_action
from ..request import Finding, RunRequest, RunResult
from ..routing.types import Decision
from .textutil import enclosing_block, paragraph

__all__ = [
    "DOCUMENT_ACTIONS",
    "LABELS",
    "Subject",
    "subject_of",
    "run_request",
    "title",
    "where",
    "range_to_json",
    "range_from_json",
    "result_to_json",
    "finding_range",
    "SEVERITY",
]

# the code actions: every action but one whose text is a prompt the person types (ask)
DOCUMENT_ACTIONS = tuple(name for name, a in ACTION_MODULES.items() if not a.prompt_in_text)
LABELS = {name: a.label for name, a in ACTION_MODULES.items()}
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


@dataclass(frozen=True)
class Subject:
    """What a request is about: `text` spans lines first..last; `insert_at` is where a completion goes."""

    text: str
    first: int
    last: int
    insert_at: types.Position


def readable_document(workspace, uri: str) -> tuple[TextDocument | None, str]:
    """The document and "" , or None and why: an unopened URI is read from disk, which can fail
    (no such file, a name too long, a NUL in the path, bytes that are not text)."""
    try:
        doc = workspace.get_text_document(uri)
        doc.lines
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        return None, f"{uri} cannot be read: {e}"
    return doc, ""


def server_position(codec, lines: tuple[str, ...], pos: types.Position) -> types.Position:
    """`codec.position_from_client_units`, which counts a line's code units character by
    character (a few hundred us for a long line, twice a request); on an ASCII line every unit
    is one character, so the position is the client's, clamped as pygls clamps it (in `pos` too)."""
    if 0 <= pos.line < len(lines) and lines[pos.line].isascii():
        size = len(lines[pos.line].replace("\r\n", "\n"))
        if size == 0:
            return types.Position(pos.line, 0)
        if pos.character > size:
            pos.character = size - 1
        return types.Position(pos.line, pos.character)
    return codec.position_from_client_units(lines, pos)


def subject_of(doc: TextDocument, lines: tuple[str, ...], rng: types.Range | None, action: str) -> Subject:
    """The selection; on an empty range the enclosing function (or paragraph); without a range the
    whole document. An action that continues at the cursor (a completion) only sees the text up to it."""
    if rng is None:
        return Subject(doc.source, 0, max(len(lines) - 1, 0), types.Position(len(lines), 0))
    if not lines:
        return Subject("", 0, 0, rng.end)
    codec = doc.position_codec
    start = server_position(codec, lines, rng.start)
    stop = server_position(codec, lines, rng.end)
    if (start.line, start.character) != (stop.line, stop.character):
        # a selection that ends at column 0 holds none of its last line
        last = stop.line - 1 if stop.character == 0 and stop.line > start.line else stop.line
        return Subject(_slice(lines, start, stop), start.line, last, rng.end)
    first, last = enclosing_block(lines, start.line, doc.language_id or "") or paragraph(lines, start.line)
    if get_action(action).continues_at_cursor:
        cursor = types.Position(start.line, start.character)
        return Subject(_slice(lines, types.Position(first, 0), cursor), first, start.line, rng.end)
    return Subject("".join(lines[first : last + 1]), first, last, rng.end)


def _slice(lines: tuple[str, ...], start: types.Position, stop: types.Position) -> str:
    if start.line >= len(lines):
        return ""
    if start.line == stop.line:
        return lines[start.line][start.character : stop.character]
    parts = [lines[start.line][start.character :]]
    parts.extend(lines[start.line + 1 : stop.line])
    if stop.line < len(lines):
        parts.append(lines[stop.line][: stop.character])
    return "".join(parts)


def run_request(
    doc: TextDocument | None,
    action: str,
    rng: types.Range | None,
    *,
    lines: tuple[str, ...] | None = None,
    prompt: str = "",
    tier: int | None = None,
    workspace: str = "",
) -> tuple[RunRequest, Subject | None]:
    """The engine request for `action` on `doc` (None for a bare `ask`)."""
    if doc is None:
        return RunRequest(action=action, text=prompt, prompt=prompt, tier=tier, workspace=workspace), None
    lines = doc.lines if lines is None else lines
    subject = subject_of(doc, lines, rng, action)
    a = get_action(action)
    end_char = None
    if a.continues_at_cursor and rng is not None and lines:
        end = server_position(doc.position_codec, lines, rng.end)
        if end.line == subject.last:  # a selection ending at column 0 ends on the line before
            end_char = end.character
    req = RunRequest(
        action=action,
        text=prompt if a.prompt_in_text else subject.text,
        end_char=end_char,
        path=doc.path or "",
        document=doc.source,
        start_line=subject.first,
        end_line=subject.last,
        language=doc.language_id or "",
        prompt=prompt,
        tier=tier,
        workspace=workspace,
    )
    return req, subject


def where(decision: Decision, tier: int | None = None) -> str:
    """"cloud" or "local" for `tier` (default: the decided one), as routing was told."""
    return "cloud" if decision.is_cloud(tier) else "local"


def title(action: str, decision: Decision, estimate: str = "") -> str:
    """E.g. "Explain - local qwen2.5-coder:14b (212 tokens, p(tier 1 enough) 0.78)"."""
    more = f", {estimate}" if estimate else ""
    return f"{LABELS[action]} - {where(decision)} {decision.model} ({decision.input_tokens:,} tokens{more})"


def range_to_json(rng: types.Range) -> dict:
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def range_from_json(obj: Any) -> types.Range | None:
    if obj is None:
        return None
    s, e = obj["start"], obj["end"]
    return types.Range(
        start=types.Position(int(s["line"]), int(s["character"])),
        end=types.Position(int(e["line"]), int(e["character"])),
    )


def result_to_json(result: RunResult, action: str) -> dict:
    """The `hybridlsp/run` result (see the README's protocol section)."""
    d = result.decision
    out = {
        "text": result.text,
        "decision": {"tier": d.tier, "backend": d.backend, "model": d.model, "reasons": list(d.reasons)},
        "usage": asdict(result.usage),  # input_tokens, output_tokens, cost_usd, baseline_cost_usd
        "fallbacks": [{"from": f.from_, "to": f.to, "reason": f.reason} for f in result.fallbacks],
        "request_id": result.request_id,
        "answered_by": {"tier": result.tier, "backend": result.backend, "model": result.model},
        "latency_ms": result.latency_ms,
        "ttft_ms": result.ttft_ms,
        "cached": result.cached,
        "notes": list(result.notes),
    }
    if get_action(action).shown_as is Shown.DIAGNOSTICS:
        out["findings"] = [asdict(f) for f in result.findings]  # line, end_line, severity, message, fix
    return out


def finding_range(doc: TextDocument, lines: tuple[str, ...], f: Finding) -> types.Range:
    """Whole lines f.line..f.end_line, in the client's position units."""
    last = min(max(f.end_line, f.line), max(len(lines) - 1, 0))
    first = min(f.line, last)
    width = doc.position_codec.client_num_units(lines[last].rstrip("\r\n")) if lines else 0
    return types.Range(start=types.Position(first, 0), end=types.Position(last, width))
