"""Budgets in the editor: a warning when a cap is reached, a question before an expensive request."""

import pytest
from lsprotocol import types as t
from pytest_lsp import client_capabilities

from .conftest import session

PROMPT = {"action": "ask", "prompt": "[cloud] Analyze the trade-offs of sharding"}


@pytest.mark.parametrize("answer,tier", [("Use tier 2", 2), ("Send", 3)])
async def test_expensive_cloud_request_asks_first(server_env, repo, fake_openai, answer, tier):
    async with session(server_env, client_capabilities("visual_studio_code"), repo,
                       initialization_options={"budget": {"confirmAboveUsd": 0.0000001}}) as s:
        asked = []

        @s.client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(params: t.ShowMessageRequestParams):
            asked.append(params.message)
            return next(a for a in params.actions if a.title == answer)

        res = await s.run(PROMPT)
    assert asked and "gpt-4.1" in asked[0]
    assert res["decision"]["tier"] == tier
    assert fake_openai.request_count == (1 if tier == 3 else 0)


async def test_reaching_the_monthly_cap_is_said_once_and_keeps_requests_local(server_env, repo, fake_openai):
    fake_openai.usage = (100_000, 10_000)  # a request that costs about $0.28 on gpt-4.1
    async with session(server_env, client_capabilities("neovim"), repo,
                       initialization_options={"budget": {"monthlyCloudUsd": 0.05}}) as s:
        first = await s.run(PROMPT)
        second = await s.run(PROMPT)
        third = await s.run(PROMPT)
        said = [m for m in s.client.messages if "budget" in m.message]
    assert first["decision"]["tier"] == 3
    assert second["decision"]["tier"] == 2 and third["decision"]["tier"] == 2
    assert any("monthly cloud budget" in r for r in second["decision"]["reasons"])
    assert len(said) == 1 and said[0].type == t.MessageType.Error
    assert fake_openai.request_count == 1
