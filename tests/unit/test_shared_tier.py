"""Tier 2 on a team's shared server, against real fake upstreams on 127.0.0.1: what the engine sends
where, and how each set-up is priced and counted (the facts docs/team.md states)."""

import pytest

from hybridlsp.config import settings_from_mapping
from hybridlsp.engine import Engine
from hybridlsp.request import RunRequest
from hybridlsp.ledger import compute_report
from hybridlsp.ledger.store import Ledger
from tests.fakes.upstreams import FakeOllama, FakeOpenAI

GOOD = "The build is green: all 214 tests passed and the release can go out."
TEAM_MODEL = "Qwen/Qwen2.5-Coder-32B-Instruct"
TEAM_KEY = "team-0123456789abcdef"


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        yield led


def base(**over) -> dict:
    data = {"embedded": {"enabled": False},
            "dispatch": {"max_retries": 0, "read_timeout_s": 2, "connect_timeout_s": 1}}
    data.update(over)
    return data


async def ask(engine: Engine, text: str):
    try:
        return await engine.run(RunRequest(action="ask", text=text))
    finally:
        await engine.aclose()


# ---- a shared Ollama host: priced by the tier's hourly cost, counted as local -----------------

async def test_shared_ollama_host_is_priced_by_hourly_cost(ledger):
    # ~0.3 s of streaming, so the hardware time is well above rounding
    with FakeOllama(answer=GOOD, token_delay=0.02) as team_host:
        settings = settings_from_mapping(base(
            backends={"ollama": {"host": team_host.url}},
            tiers={"tier2": {"backend": "ollama", "model": "llama3.3:70b", "hourly_cost_usd": 3.6}},
            budget={"monthly_cloud_usd": 1.0},
        ))
        res = await ask(Engine(settings, ledger=ledger, env={}), "[tier2] Summarize the build log")
    assert res.tier == 2 and res.backend == "ollama"
    assert team_host.requests[-1].json["model"] == "llama3.3:70b"
    (row,) = ledger.rows()
    # $3.60/h is $0.001/s of the attempt's streaming time (within the request's end-to-end time)
    assert 0.001 * 0.2 <= row.cost_usd <= 0.001 * row.latency_ms / 1000
    assert res.usage.cost_usd == pytest.approx(row.cost_usd, abs=1e-8)  # the result rounds to 8 places
    assert ledger.month_cloud_spend() == 0.0  # hardware time is not cloud money: budgets ignore it


async def test_one_ollama_host_serves_every_ollama_tier(ledger):
    # backends.ollama.host is one setting: tier 1 goes to the shared host too
    with FakeOllama(answer=GOOD) as team_host:
        settings = settings_from_mapping(base(backends={"ollama": {"host": team_host.url}}))
        res = await ask(Engine(settings, ledger=ledger, env={}), "[tier1] Summarize the build log")
    assert res.tier == 1 and team_host.requests[-1].json["model"] == "qwen2.5-coder:14b"


# ---- a shared OpenAI-compatible server (vLLM, llama.cpp server) through the "openai" backend ----

def openai_compatible(server: FakeOpenAI, ollama: FakeOllama, overrides: dict | None = None) -> dict:
    return base(
        backends={"ollama": {"host": ollama.url},
                  "openai": {"base_url": server.base_url, "api_key_env": "TEAM_LLM_KEY"}},
        tiers={"tier2": {"backend": "openai", "model": TEAM_MODEL, "hourly_cost_usd": 3.6},
               "tier3": {"backend": "anthropic", "model": "claude-sonnet-4-5"}},
        ledger={"price_overrides": overrides or {}},
    )


ENV = {"TEAM_LLM_KEY": TEAM_KEY, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}


async def test_openai_compatible_server_gets_tier2_with_the_team_key(ledger):
    with FakeOllama(answer=GOOD) as local, FakeOpenAI(answer=GOOD, usage=(500, 120), expected_key=TEAM_KEY) as team:
        settings = settings_from_mapping(openai_compatible(team, local, {TEAM_MODEL: [0.20, 0.60]}))
        res = await ask(Engine(settings, ledger=ledger, env=ENV), "[tier2] Summarize the build log")
    assert (res.tier, res.backend, res.model, res.text) == (2, "openai", TEAM_MODEL, GOOD)
    sent = team.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {TEAM_KEY}"
    assert sent.json["model"] == TEAM_MODEL and "max_tokens" in sent.json  # what vLLM / llama.cpp accept
    assert local.request_count == 0
    # priced by tokens through ledger.price_overrides; hourly_cost_usd is not used for this backend
    (row,) = ledger.rows()
    assert row.cost_usd == pytest.approx((500 * 0.20 + 120 * 0.60) / 1_000_000)
    assert ledger.month_cloud_spend() == pytest.approx(row.cost_usd)  # and it counts against cloud budgets


async def test_openai_compatible_server_with_zero_override_costs_nothing(ledger):
    with FakeOllama(answer=GOOD) as local, FakeOpenAI(answer=GOOD, usage=(500, 120)) as team:
        settings = settings_from_mapping(openai_compatible(team, local, {TEAM_MODEL: [0, 0]}))
        res = await ask(Engine(settings, ledger=ledger, env=ENV), "[tier2] Summarize the build log")
    assert res.backend == "openai" and res.usage.cost_usd == 0.0
    assert ledger.rows()[0].cost_usd == 0.0 and res.usage.baseline_cost_usd > 0


async def test_private_text_never_reaches_a_shared_openai_compatible_tier(ledger, tmp_path):
    # the policy treats the "openai" backend as cloud wherever it points: private text stays on Ollama
    env_file = tmp_path / ".env"  # a local-only path (routing.local_only_globs), like a detected secret
    env_file.write_text("DEBUG=1\n")
    with FakeOllama(answer=GOOD) as local, FakeOpenAI(answer=GOOD) as team:
        settings = settings_from_mapping(openai_compatible(team, local, {TEAM_MODEL: [0, 0]}))
        engine = Engine(settings, ledger=ledger, env=ENV)
        try:
            res = await engine.run(RunRequest(action="explain", text="DEBUG=1", path=str(env_file), prompt="[tier2]"))
        finally:
            await engine.aclose()
    assert team.request_count == 0 and res.backend == "ollama" and res.decision.private


async def test_without_a_key_for_tier3_the_shared_openai_tier_is_skipped(ledger):
    # "no key for the cloud tier" turns off every cloud-type backend, the shared tier 2 included
    with FakeOllama(answer=GOOD) as local, FakeOpenAI(answer=GOOD) as team:
        settings = settings_from_mapping(openai_compatible(team, local, {TEAM_MODEL: [0, 0]}))
        res = await ask(Engine(settings, ledger=ledger, env={"TEAM_LLM_KEY": TEAM_KEY}),
                        "[tier2] Summarize the build log")
    assert team.request_count == 0 and res.tier == 1 and res.backend == "ollama"


async def test_without_an_override_an_unknown_served_model_is_unpriced(ledger):
    with FakeOllama(answer=GOOD) as local, FakeOpenAI(answer=GOOD, usage=(500, 120)) as team:
        settings = settings_from_mapping(openai_compatible(team, local))
        res = await ask(Engine(settings, ledger=ledger, env=ENV), "[tier2] Summarize the build log")
    # hourly_cost_usd (3.6) is not used: the catalogue does not know the name, so no price at all
    assert res.backend == "openai" and ledger.rows()[0].cost_usd is None
    assert compute_report(ledger.rows(), []).unpriced == 1  # the report says so and points at price_overrides


async def test_no_cloud_account_tier3_on_the_same_server_needs_only_the_team_key(ledger):
    with FakeOllama(answer=GOOD) as local, FakeOpenAI(answer=GOOD) as team:
        data = openai_compatible(team, local, {TEAM_MODEL: [0, 0]})
        data["tiers"]["tier3"] = {"backend": "openai", "model": TEAM_MODEL}
        settings = settings_from_mapping(data)
        res = await ask(Engine(settings, ledger=ledger, env={"TEAM_LLM_KEY": TEAM_KEY}),
                        "[tier2] Summarize the build log")
    assert res.tier == 2 and res.backend == "openai" and team.request_count == 1
