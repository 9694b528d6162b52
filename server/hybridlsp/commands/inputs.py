"""Reading what the command line names: a file, or standard input for "-", as UTF-8 text.

A byte that is not UTF-8 is an error naming the line it is on, not a decoder traceback with a byte
offset into the whole file.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["read_text_input", "read_arg", "since"]


def read_text_input(arg: str) -> str:
    data = sys.stdin.buffer.read() if arg == "-" else Path(arg).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{arg}:{line}: not UTF-8 (byte 0x{data[e.start]:02x})") from None


def read_arg(value: str) -> str:
    """A prompt given on the command line, or standard input for "-"."""
    return sys.stdin.read() if value == "-" else value


def since(value: str | None) -> datetime | None:
    """An ISO date or time given with --since; one without a zone is UTC."""
    if not value:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
