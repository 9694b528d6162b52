"""Reading a file named on the command line, or standard input for "-", as UTF-8 text.

A byte that is not UTF-8 is an error naming the line it is on, not a decoder traceback with a byte
offset into the whole file.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["read_text_input"]


def read_text_input(arg: str) -> str:
    data = sys.stdin.buffer.read() if arg == "-" else Path(arg).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{arg}:{line}: not UTF-8 (byte 0x{data[e.start]:02x})") from None
