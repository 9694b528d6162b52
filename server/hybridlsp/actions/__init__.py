"""One module per action: each builds its prompt, validates its answer and declares how it is shown."""

from __future__ import annotations

from types import ModuleType

from . import ask, commit_message, complete, explain, review
from .base import Action, ActionContext, Shown, sanitize

__all__ = ["Action", "ActionContext", "Shown", "get_action", "ACTION_MODULES", "sanitize"]

ACTION_MODULES: dict[str, ModuleType] = {
    m.name: m for m in (complete, explain, review, commit_message, ask)
}


def get_action(name: str) -> ModuleType:
    try:
        return ACTION_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown action {name!r}; expected one of {', '.join(ACTION_MODULES)}") from None
