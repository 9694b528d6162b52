"""The embedded hop: the action's own call for a 135M model, and the floor when its answer fails.

The embedded backend is in-process (no HTTP to fake), so a scripted model stands in for it through
the pool's injection point, as `httpx.MockTransport` stands in for a server."""

import pytest

from hybridlsp.backends.base import FINISH_LENGTH, Chunk, Health, Message, Usage
from hybridlsp.config import settings_from_mapping
from hybridlsp.engine.dispatch import BackendPool, Breaker, Call, Dispatcher
from hybridlsp.errors import AllTiersFailed, ValidationFailed
from hybridlsp.routing.types import Hop

EMBEDDED = Hop(0, "embedded", "SmolLM2-135M-Instruct")


class ScriptedModel:
    """Answers each request with the next scripted text; keeps the requests."""

    name = "embedded"
    is_local = True

    def __init__(self, *answers: str, finish: str = ""):
        self.answers = list(answers)
        self.finish = finish
        self.requests = []

    async def stream(self, request):
        self.requests.append(request)
        yield Chunk(text=self.answers.pop(0))
        yield Chunk(usage=Usage(10, 3), finish=self.finish)

    async def health(self):
        return Health(True)

    async def aclose(self):
        pass


def check(text: str) -> str:
    if not text.startswith("ok"):
        raise ValidationFailed("commit-message", f"{text!r} is not ok")
    return text


def dispatcher(model) -> Dispatcher:
    s = settings_from_mapping({})
    return Dispatcher(s, BackendPool(s, {}, overrides={"embedded": model}), Breaker(3, 30), len)


def call(floor=None) -> Call:
    tier0 = Call((EMBEDDED,), (Message("user", "short"),), check, action_cap=20, grammar='root ::= "ok"',
                 temperature=0.0)
    return Call((EMBEDDED,), (Message("user", "the whole diff"),), check, action_cap=160, tier0=tier0,
                floor=floor)


async def test_the_embedded_hop_gets_the_actions_own_call():
    model = ScriptedModel("ok: subject")
    res = await dispatcher(model).run(call())
    (req,) = model.requests
    assert [m.content for m in req.messages] == ["short"] and req.grammar == 'root ::= "ok"'
    assert req.temperature == 0.0 and req.max_tokens == 20
    assert res.text == "ok: subject" and res.notes == []


async def test_a_failed_embedded_answer_gets_the_floor_with_a_note():
    res = await dispatcher(ScriptedModel("junk")).run(call(floor=lambda: "ok from the diff"))
    assert res.text == "ok from the diff" and res.answer.outcome == "ok"
    assert res.notes == ["the embedded model's answer failed its check ('junk' is not ok); this one is built "
                         "from the diff alone"]


async def test_a_cut_off_embedded_answer_gets_the_floor_too():
    # "ok: sub" would pass the check, but it ended on the output budget: not an answer to pass on
    res = await dispatcher(ScriptedModel("ok: sub", finish=FINISH_LENGTH)).run(call(floor=lambda: "ok from the diff"))
    assert res.text == "ok from the diff" and res.answer.outcome == "ok"
    assert res.notes == ["the embedded model's answer did not end on its own (the answer was cut off by its "
                         "20-token output budget); this one is built from the diff alone"]


async def test_a_cut_off_embedded_answer_without_a_floor_is_a_failure():
    with pytest.raises(AllTiersFailed) as info:
        await dispatcher(ScriptedModel("ok: sub", finish=FINISH_LENGTH)).run(call())
    assert info.value.hops == [("embedded/SmolLM2-135M-Instruct", "the answer was cut off by its 20-token output budget")]


@pytest.mark.parametrize("floor", [None, lambda: None, lambda: "not ok either"])
async def test_without_a_floor_that_passes_the_failed_answer_is_a_failure(floor):
    with pytest.raises(AllTiersFailed) as info:
        await dispatcher(ScriptedModel("junk")).run(call(floor=floor))
    assert info.value.hops == [("embedded/SmolLM2-135M-Instruct", "failed the check: 'junk' is not ok")]
