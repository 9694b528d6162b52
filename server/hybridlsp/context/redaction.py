"""Redact secrets behind stable placeholders, and put them back in the answer shown locally.

`privacy.on_secret = "redact"`: rather than keeping a request that holds a secret on a local
model, each secret value is replaced by `<SECRET_1>`, `<SECRET_2>`, ... before the request
leaves; the same value gets the same placeholder in every text of the request (prompt, file,
diff), so the model can still say "pass <SECRET_1> to the client". The answer streams back with
placeholders in it; `Restorer` puts the values back chunk by chunk, holding back only the tail of
a chunk that could be the start of a placeholder split across chunks.

Pure: no I/O, no model. The values stay in the `Redactor` (one per request); what a ledger row
may hold is `count` and `kinds`, never a value.

    r = Redactor()
    sent = r.redact(prompt, path)          # what the cloud sees
    shown = r.restorer()
    for chunk in stream: out(shown.feed(chunk))
    out(shown.flush())
"""

from __future__ import annotations

import re
from collections import Counter

from .secrets import secret_spans

__all__ = ["PLACEHOLDER", "Redactor", "Restorer"]

PLACEHOLDER = re.compile(r"<SECRET_(\d+)>")
_PREFIX = "<SECRET_"


class Redactor:
    def __init__(self) -> None:
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self.kinds: Counter[str] = Counter()  # kind -> values redacted (each value once)

    @property
    def count(self) -> int:
        """How many distinct secret values were replaced."""
        return len(self._by_value)

    def _placeholder(self, value: str, kind: str) -> str:
        if value not in self._by_value:
            p = f"<SECRET_{len(self._by_value) + 1}>"
            self._by_value[value], self._by_placeholder[p] = p, value
            self.kinds[kind] += 1
        return self._by_value[value]

    def redact(self, text: str, path: str = "") -> str:
        """`text` with every secret value behind its placeholder."""
        spans = secret_spans(text, path)
        if not spans:
            return text
        out, at = [], 0
        for start, end, kind in spans:
            out += [text[at:start], self._placeholder(text[start:end], kind)]
            at = end
        out.append(text[at:])
        return "".join(out)

    def restore(self, text: str) -> str:
        """Placeholders back to their values; any other `<SECRET_n>` is left as it is."""
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)

    def restorer(self) -> Restorer:
        return Restorer(self)


class Restorer:
    """Restores a streamed answer: `feed` each chunk, then `flush` at the end."""

    def __init__(self, redactor: Redactor):
        self._redactor = redactor
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        cut = _pending(text)
        self._held = text[cut:]
        return self._redactor.restore(text[:cut])

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self._redactor.restore(text)


def _pending(text: str) -> int:
    """Where an unfinished placeholder starts at the end of `text` (len(text) if none)."""
    at = text.rfind("<")
    if at < 0:
        return len(text)
    tail = text[at:]
    if len(tail) <= len(_PREFIX):
        return at if _PREFIX.startswith(tail) else len(text)
    return at if tail.startswith(_PREFIX) and tail[len(_PREFIX):].isdigit() else len(text)
