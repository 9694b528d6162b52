"""Fake upstreams that give each action an answer its validator accepts, whatever the wire format.

The action is told apart by its system prompt, as a real model would see it: review wants JSON,
commit-message a subject line, complete code, the others prose. Set `by_action` entries to change
what one action gets (e.g. an answer full of escape sequences).
"""

from __future__ import annotations

from tests.fakes.upstreams import FakeAnthropic, FakeOllama, FakeOpenAI

__all__ = ["AnsweringOllama", "AnsweringOpenAI", "AnsweringAnthropic", "PROSE"]

PROSE = "This function adds the price times quantity of each item and returns the sum."

_KEYS = (("review", "review"), ("commit", "commit-message"), ("completion", "complete"), ("explain", "explain"))


def _action_of(body: dict) -> str:
    system = body.get("system") or next(
        (m.get("content", "") for m in body.get("messages", []) if m.get("role") == "system"), "")
    low = system.lower() if isinstance(system, str) else ""
    return next((action for word, action in _KEYS if word in low), "ask")


class _Answering:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.by_action = {
            "review": '{"findings": []}',
            "commit-message": "Update the settings loader",
            "complete": "    return 1\n",
            "explain": PROSE,
            "ask": PROSE,
        }

    async def _send_stream(self, req, *args):
        self.answer = self.by_action[_action_of(req.json or {})]
        await super()._send_stream(req, *args)


class AnsweringOllama(_Answering, FakeOllama):
    pass


class AnsweringOpenAI(_Answering, FakeOpenAI):
    pass


class AnsweringAnthropic(_Answering, FakeAnthropic):
    pass
