"""Explain: a short Markdown explanation of the selected code."""

from __future__ import annotations

from ..backends.base import Message
from .base import ActionContext, Shown, check_common, no_git, plain

name = "explain"
label = "Explain"
json_schema = None
max_tokens = 350  # the answer's output budget (the tier's own cap applies too)
think = False  # a short description of visible code; reasoning adds latency, not accuracy
cacheable = True
reads_document = True
surroundings = False
prompt_in_text = False
reads_git = False
condensable = False
continues_at_cursor = False
input_name = "input"
shown_as = Shown.DOCUMENT
streamed = True  # prose, read as it comes
gather = no_git
present = plain

SYSTEM = "You explain code to a developer. Be direct and accurate. Use Markdown."


def messages(ctx: ActionContext) -> list[Message]:
    lang = ctx.language or "code"
    ask = f"\nThe developer asks: {ctx.prompt}" if ctx.prompt else ""
    user = (
        f"Explain what this {lang} code does.{ask}\n"
        "Format: at most 3 sentences, then at most 3 bullet points with notable details.\n"
        "Do not repeat the code.\n\n"
        f"```{ctx.language}\n{ctx.text}\n```"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def validate(answer: str, ctx: ActionContext) -> str:
    return check_common(name, answer, min_chars=20)
