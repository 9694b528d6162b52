"""The protect stage: what will be sent, counted and scanned for secrets. A secret keeps the
request off the cloud (the policy's privacy gate reads `Scanned.secret`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from ..context.secrets import contains_secret

__all__ = ["Scanned", "scan", "OFFLOAD_CHARS"]

# Off the event loop above this many characters: tiktoken and the secret scan are CPU-bound.
OFFLOAD_CHARS = 20_000


@dataclass(frozen=True)
class Scanned:
    tokens: int  # our count of what is sent
    secret: bool  # it contains a secret


async def scan(sent: str, path: str, count_tokens: Callable[[str], int]) -> Scanned:
    if len(sent) > OFFLOAD_CHARS:
        # tiktoken releases the GIL: count and scan side by side, off the loop
        tokens, secret = await asyncio.gather(asyncio.to_thread(count_tokens, sent),
                                              asyncio.to_thread(contains_secret, sent, path))
        return Scanned(tokens, secret)
    return Scanned(count_tokens(sent), contains_secret(sent, path))
