"""Review: findings as JSON (schema-constrained where the backend can), shown as diagnostics."""

from __future__ import annotations

import json
import re

from ..backends.base import Message
from ..context.tokens import truncate_to_tokens
from ..errors import ValidationFailed
from ..request import Finding
from ..routing.types import GitSummary
from .base import ActionContext, Gathered, Shown, check_common, sanitize, strip_fences

name = "review"
label = "Review"
max_tokens = 800  # the answer's output budget (the tier's own cap applies too)
think = True  # finding bugs is where reasoning helps; thinking_tokens more budget for it
cacheable = True
reads_document = True
surroundings = False
prompt_in_text = False
reads_git = True  # the file's own diff against HEAD
condensable = False
continues_at_cursor = False
input_name = "input"
shown_as = Shown.DIAGNOSTICS
streamed = False  # JSON until it is checked: the findings are printed once they passed
FILE_DIFF_TOKENS = 2000  # the file's own diff is context for review, not the subject
SEVERITIES = ("error", "warning", "info", "hint")
MAX_FINDINGS = 20

json_schema = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "maxItems": MAX_FINDINGS,
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                    "severity": {"type": "string", "enum": list(SEVERITIES[:3])},
                    # bounded, so a grammar-constrained small model cannot ramble past its budget
                    "message": {"type": "string", "maxLength": 200},
                    "fix": {"type": "string", "maxLength": 300},
                },
                "required": ["line", "severity", "message"],
            },
        }
    },
    "required": ["findings"],
}

SYSTEM = "You review code for bugs and risky patterns. You answer only with JSON."


def numbered(text: str, first_line: int) -> str:
    return "\n".join(f"{first_line + i + 1:>5} | {ln}" for i, ln in enumerate(text.splitlines()))


def messages(ctx: ActionContext) -> list[Message]:
    lang = ctx.language or "code"
    diff = f"\nRecent changes to this file (diff against HEAD):\n{ctx.file_diff}\n" if ctx.file_diff else ""
    focus = f"\nFocus: {ctx.prompt}\n" if ctx.prompt else ""
    user = (
        f"Review this {lang} code. Report only real problems: bugs, security issues, error handling.\n"
        f"Answer with JSON only, in this shape, at most {MAX_FINDINGS} findings:\n"
        '{"findings": [{"line": 12, "severity": "error|warning|info", "message": "what is wrong", '
        '"fix": "the corrected line, optional"}]}\n'
        'Use the line numbers shown at the left. If there is no problem answer {"findings": []}.\n'
        f"{focus}{diff}\nCode:\n{numbered(ctx.text, ctx.start_line)}"
    )
    return [Message("system", SYSTEM), Message("user", user)]


_OBJ_RE = re.compile(r"\{.*\}", re.DOTALL)


def parse(answer: str, ctx: ActionContext) -> list[dict]:
    text = strip_fences(sanitize(answer)).strip()
    m = _OBJ_RE.search(text)
    if not m:
        raise ValidationFailed(name, "no JSON object in the answer")
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError as e:
        raise ValidationFailed(name, f"answer is not valid JSON ({e.msg})") from None
    items = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValidationFailed(name, "JSON has no 'findings' list")
    first = ctx.start_line + 1
    last = ctx.start_line + max(1, len(ctx.text.splitlines()))
    out = []
    for it in items[:MAX_FINDINGS]:
        if not isinstance(it, dict) or not isinstance(it.get("message"), str) or not it["message"].strip():
            raise ValidationFailed(name, "a finding has no message")
        try:
            line = int(it.get("line"))
        except (TypeError, ValueError):
            raise ValidationFailed(name, "a finding has no line number") from None
        if not first <= line <= last:
            raise ValidationFailed(name, f"finding on line {line} is outside the reviewed lines {first}-{last}")
        end = it.get("end_line", line)
        end = end if isinstance(end, int) and line <= end <= last else line
        sev = str(it.get("severity", "warning")).lower()
        fix = it.get("fix")
        out.append(
            {
                "line": line - 1,  # 0-based document line
                "end_line": end - 1,
                "severity": sev if sev in SEVERITIES else "warning",
                "message": it["message"].strip(),
                "fix": fix if isinstance(fix, str) and fix.strip() else None,
            }
        )
    return out


def validate(answer: str, ctx: ActionContext) -> str:
    check_common(name, answer)
    return json.dumps({"findings": parse(answer, ctx)})


def gather(where: str, path: str) -> Gathered:
    """The file's diff against HEAD, as context (none outside a repository or for an unsaved file)."""
    if not where or not path:
        return Gathered()
    from ..context import git  # GitPython: ~80 ms to import, only once a review reads a repository

    repo = git.repo_for(where)
    if repo is None:
        return Gathered()
    summary = git.file_diff(repo, path)
    diff_text = truncate_to_tokens(summary.kept_text, FILE_DIFF_TOKENS) if summary.kept_text else ""
    return Gathered({"file_diff": diff_text},
                    GitSummary(diff_tokens=summary.total_tokens, files_changed=summary.files_changed))


def present(validated: str) -> tuple[str, list[Finding]]:
    """A validated review (JSON) as the Markdown shown, and the findings for diagnostics."""
    raw = json.loads(validated)["findings"]
    return render(raw), [Finding(**f) for f in raw]


def render(findings: list[dict]) -> str:
    if not findings:
        return "No problems found."
    return "\n".join(f"- line {f['line'] + 1} **{f['severity']}**: {f['message']}" for f in findings)
