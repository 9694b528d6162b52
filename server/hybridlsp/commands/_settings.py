"""The settings every command runs with: one loader (files, environment), its notes on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

from ..backends.settings import load_settings
from ..config import Settings

__all__ = ["load"]


def load(workspace: str | Path | None = None) -> Settings:
    """The settings of `workspace` (default: the current directory), the notes about them on stderr."""
    settings, notes = load_settings(Path(workspace) if workspace else Path.cwd())
    for n in notes:
        print(f"hybridlsp: {n}", file=sys.stderr)
    return settings
