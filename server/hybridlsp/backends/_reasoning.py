"""Thinking kept out of answers: `<think>` blocks that a model writes into its answer text.

Ollama puts a thinking model's reasoning in `message.thinking` and OpenAI-compatible servers with
a reasoning parser in `reasoning_content`, but a server without one (or a model it does not know)
leaves `<think>...</think>` inline, at the start or anywhere after. `ThinkSplitter` takes the
stream piece by piece, a tag split over two pieces included, and tells answer from thinking.
`strip_thinking` does the same for a whole text, and also drops what comes before a lone
`</think>`: templates that open the block inside the prompt (DeepSeek-R1's) only ever close it.
"""

from __future__ import annotations

__all__ = ["ThinkSplitter", "strip_thinking"]

_PAIRS = {"<think>": "</think>", "<thinking>": "</thinking>"}
_CLOSES = tuple(_PAIRS.values())
_TAGS = tuple(_PAIRS) + _CLOSES


def _partial_tail(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ThinkSplitter:
    """Feed streamed text; get (answer, thinking) back. Text that may still become a tag is held
    until the next piece, or `flush()` at the end of the stream."""

    def __init__(self) -> None:
        self._held = ""
        self._until: str | None = None  # inside a block: the tag that closes it
        self._trim = False  # just after a block: the blank lines that separated it go too

    def feed(self, text: str) -> tuple[str, str]:
        buf, self._held = self._held + text, ""
        answer: list[str] = []
        thinking: list[str] = []
        while buf:
            if self._until is not None:
                end = buf.find(self._until)
                if end >= 0:
                    thinking.append(buf[:end])
                    buf, self._until, self._trim = buf[end + len(self._until):], None, True
                    continue
                keep = _partial_tail(buf, self._until)
                thinking.append(buf[: len(buf) - keep])
                self._held = buf[len(buf) - keep:]
                break
            if self._trim:
                buf = buf.lstrip()
                self._trim = not buf
                if not buf:
                    break
            start = buf.find("<")
            if start < 0:
                answer.append(buf)
                break
            answer.append(buf[:start])
            buf = buf[start:]
            opened = next((t for t in _PAIRS if buf.startswith(t)), None)
            if opened is not None:
                buf, self._until = buf[len(opened):], _PAIRS[opened]
                continue
            if any(t.startswith(buf) for t in _TAGS):  # "<thi" at the end of a piece: wait
                self._held = buf
                break
            answer.append("<")
            buf = buf[1:]
        return "".join(answer), "".join(thinking)

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self._until is not None:
            return "", held
        return (held.lstrip() if self._trim else held), ""


def strip_thinking(text: str) -> str:
    """`text` without its thinking: every `<think>` block, and all before a `</think>` left alone."""
    splitter = ThinkSplitter()
    answer, _ = splitter.feed(text)
    tail, _ = splitter.flush()
    answer += tail
    cut = max(answer.rfind(tag) + len(tag) if tag in answer else -1 for tag in _CLOSES)
    return answer[cut:].lstrip() if cut >= 0 else answer
