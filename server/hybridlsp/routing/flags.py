"""Explicit tier flags at the start of a prompt, as the article designs them."""

from __future__ import annotations

import re

__all__ = ["FLAG_TIERS", "parse_flag"]

FLAG_TIERS = {
    "tier1": 1, "local": 1,
    "tier2": 2, "heavy": 2,
    "tier3": 3, "cloud": 3,
}

_FLAG_RE = re.compile(r"^\s*\[(" + "|".join(FLAG_TIERS) + r")\]\s*", re.IGNORECASE)


def parse_flag(text: str) -> tuple[int | None, str, str]:
    """Return (tier, flag as written, text without the flag). Only a leading flag counts."""
    m = _FLAG_RE.match(text)
    if not m:
        return None, "", text
    return FLAG_TIERS[m.group(1).lower()], m.group(0).strip(), text[m.end():]
