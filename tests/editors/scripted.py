"""A fake Ollama that answers each action in its own shape, so one editor session can run all four.

The action is read from the request's system message (each action has its own); a prompt that
contains "slowly" gets a long answer dripped a token every 0.2 s, for cancelling mid-stream.
"""

import json
import re

from tests.fakes.upstreams import FakeOllama

__all__ = ["ScriptedOllama", "ANSWERS"]

ANSWERS = {
    "review": json.dumps(
        {"findings": [{"line": 5, "severity": "warning", "message": "b may be zero", "fix": "    result = a / b if b else 0"}]}
    ),
    "complete": "\n    return 3 * x",
    "commit-message": "Add a double helper to calc",
    "explain": "Divides a by b and returns the quotient; raises ZeroDivisionError when b is 0.",
}
_SYSTEM = {
    "You review code": "review",
    "code completion engine": "complete",
    "git commit messages": "commit-message",
}
SLOW_ANSWER = " ".join(["This explanation streams slowly."] * 40)


def action_of(body: dict) -> str:
    system = next((m.get("content", "") for m in body.get("messages", []) if m.get("role") == "system"), "")
    return next((action for marker, action in _SYSTEM.items() if marker in system), "explain")


class ScriptedOllama(FakeOllama):
    def __init__(self, **kwargs):
        super().__init__(models=("model-a", "model-b", "model-c"), loaded=("model-a", "model-b", "model-c"), **kwargs)
        self.fast_delay = self.token_delay
        self.actions: list[str] = []

    def stream_frames(self, req, pieces):
        body = req.json or {}
        action = action_of(body)
        self.actions.append(action)
        slow = "slowly" in json.dumps(body.get("messages", []))
        # the base class reads token_delay after asking for the frames
        self.token_delay = 0.2 if slow else self.fast_delay
        answer = SLOW_ANSWER if slow else ANSWERS[action]
        return super().stream_frames(req, re.findall(r"\S+\s*|\s+", answer))
