"""Ask: a free-form prompt, answered directly."""

from __future__ import annotations

from ..backends.base import Message
from .base import ActionContext, Shown, check_common, no_git, plain

name = "ask"
label = "Ask"
json_schema = None
max_tokens = None  # the answer's output budget (the tier's own cap applies too)
think = True  # open questions, some hard: a thinking model may reason (within thinking_tokens)
cacheable = True
reads_document = False
surroundings = False
prompt_in_text = True
reads_git = False
condensable = False
continues_at_cursor = False
input_name = "input"
shown_as = Shown.DOCUMENT
streamed = True  # prose, read as it comes
gather = no_git
present = plain

SYSTEM = "Answer the request directly and concisely. Use Markdown only where it helps."


def messages(ctx: ActionContext) -> list[Message]:
    user = ctx.text
    if ctx.prompt and ctx.prompt != ctx.text:
        user = f"{ctx.prompt}\n\n{ctx.text}"
    return [Message("system", SYSTEM), Message("user", user)]


def validate(answer: str, ctx: ActionContext) -> str:
    return check_common(name, answer, min_chars=2)
