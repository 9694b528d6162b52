"""The protect stage: what will be sent, counted and scanned for secrets. A secret keeps the
request off the cloud (the policy's privacy gate reads `Scanned.secret`), or, with
`privacy.on_secret = "redact"`, is replaced by a placeholder in every message (`redact`): the
request is then no longer private, and the answer is restored with the `Redactor`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Callable

from ..context.redaction import Redactor
from ..context.secrets import contains_secret
from .prepare import Prepared, sent_text

__all__ = ["Scanned", "scan", "redact", "OFFLOAD_CHARS"]

# Off the event loop above this many characters: tiktoken and the secret scan are CPU-bound.
OFFLOAD_CHARS = 20_000


@dataclass(frozen=True)
class Scanned:
    tokens: int  # our count of what is sent
    secret: bool  # it contains a secret
    redactor: Redactor | None = None  # its secrets were redacted instead: restores the answer


async def scan(sent: str, path: str, count_tokens: Callable[[str], int]) -> Scanned:
    if len(sent) > OFFLOAD_CHARS:
        # tiktoken releases the GIL: count and scan side by side, off the loop
        tokens, secret = await asyncio.gather(asyncio.to_thread(count_tokens, sent),
                                              asyncio.to_thread(contains_secret, sent, path))
        return Scanned(tokens, secret)
    return Scanned(count_tokens(sent), contains_secret(sent, path))


def redact(prepared: Prepared, path: str) -> tuple[Prepared, Redactor, str] | None:
    """`prepared` with each secret value behind a placeholder, its `Redactor` and a note; None
    when the redacted text still holds a secret (the request then stays private)."""
    redactor = Redactor()
    messages = tuple(replace(m, content=redactor.redact(m.content, path)) for m in prepared.messages)
    sent = sent_text(messages)
    if not redactor.count or contains_secret(sent, path):
        return None
    n = redactor.count
    kinds = ", ".join(sorted(redactor.kinds))
    note = f"{n} secret value{'s' if n != 1 else ''} redacted before sending ({kinds}); the answer shows them again"
    return replace(prepared, messages=messages, sent=sent, notes=(*prepared.notes, note)), redactor, note
