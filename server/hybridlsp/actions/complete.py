"""Complete: code that continues the selection, checked to parse in its language."""

from __future__ import annotations

from ..backends.base import Message
from ..errors import ValidationFailed
from .base import ActionContext, Shown, check_common, no_git, plain, sanitize, strip_fences

name = "complete"
label = "Complete"
json_schema = None
max_tokens = 256  # the answer's output budget (the tier's own cap applies too)
think = False  # an inline completion is wanted at once: reasoning first only delays it
cacheable = False  # completions depend on every keystroke around them: never cached
reads_document = True
surroundings = True
prompt_in_text = False
reads_git = False
condensable = False
continues_at_cursor = True
input_name = "input"
shown_as = Shown.INSERTED
streamed = False  # printed once it parsed: one that failed never reaches stdout
gather = no_git
present = plain

SYSTEM = (
    "You are a code completion engine. Output only the code that continues the given code, "
    "with no explanation and no Markdown fences."
)
MAX_LINES = 30


def messages(ctx: ActionContext) -> list[Message]:
    lang = ctx.language or "code"
    hint = f"\nWhat to write: {ctx.prompt}" if ctx.prompt else ""
    after = f"\n\nCode after the cursor (do not repeat it):\n{ctx.suffix}" if ctx.suffix.strip() else ""
    user = (
        f"Continue this {lang} code from where it stops.{hint}\n"
        f"Output only the new code, at most {MAX_LINES} lines.\n\n"
        f"{ctx.prefix}{ctx.text}{after}"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def validate(answer: str, ctx: ActionContext) -> str:
    code = strip_fences(sanitize(answer)).rstrip()
    check_common(name, code)
    lines = code.splitlines()
    if len(lines) > MAX_LINES * 2:
        code = "\n".join(lines[: MAX_LINES * 2])
    from ..context.syntax import language_for, parses_in_context  # tree-sitter: only once a completion is checked

    lang = language_for(ctx.path, ctx.language)
    if lang is not None:
        ok = parses_in_context(ctx.prefix + ctx.text, code, ctx.suffix, lang)
        if ok is False:
            raise ValidationFailed(name, f"the completion does not parse as {lang}")
    return code
