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


# ---- named backends: a team box as its own tier 2, tier 1 on the laptop ------------------------

def team_box(server, local: FakeOllama, location: str, **tier2) -> dict:
    return base(
        backends={"ollama": {"host": local.url},
                  "team": {"kind": "openai-compatible", "base_url": server.base_url, "location": location,
                           "api_key_env": "TEAM_LLM_KEY"}},
        tiers={"tier2": {"backend": "team", "model": TEAM_MODEL, **tier2}},
        budget={"monthly_cloud_usd": 1.0},
    )


async def test_a_local_team_box_is_priced_by_the_hour_and_may_take_private_text(ledger, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=1\n")
    with FakeOllama(answer=GOOD) as laptop, FakeOpenAI(answer=GOOD, token_delay=0.02) as box:
        settings = settings_from_mapping(team_box(box, laptop, "local", hourly_cost_usd=3.6))
        engine = Engine(settings, ledger=ledger, env={"TEAM_LLM_KEY": TEAM_KEY})
        try:
            res = await engine.run(RunRequest(action="explain", text="DEBUG=1", path=str(env_file), prompt="[tier2]"))
        finally:
            await engine.aclose()
    assert (res.tier, res.backend) == (2, "team") and res.decision.private  # local: private text may go
    assert box.requests[-1].headers["authorization"] == f"Bearer {TEAM_KEY}" and laptop.request_count == 0
    (row,) = ledger.rows()
    assert row.location == "local" and 0 < row.cost_usd <= 0.001 * row.latency_ms / 1000  # hourly, not tokens
    assert ledger.month_cloud_spend() == 0.0


async def test_a_cloud_team_box_never_takes_private_text_and_counts_as_cloud(ledger, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=1\n")
    with FakeOllama(answer=GOOD) as laptop, FakeOpenAI(answer=GOOD, usage=(500, 120)) as box:
        data = team_box(box, laptop, "cloud")
        data["ledger"] = {"price_overrides": {TEAM_MODEL: [0.20, 0.60]}}
        settings = settings_from_mapping(data)
        engine = Engine(settings, ledger=ledger, env={"TEAM_LLM_KEY": TEAM_KEY, "OPENAI_API_KEY": "sk-x-123456"})
        try:
            private = await engine.run(RunRequest(action="explain", text="DEBUG=1", path=str(env_file), prompt="[tier2]"))
            public = await engine.run(RunRequest(action="ask", text="[tier2] Summarize the build log"))
        finally:
            await engine.aclose()
    assert private.backend == "ollama" and box.request_count == 1  # only the public request went
    assert public.backend == "team"
    row = [r for r in ledger.rows() if r.backend == "team"][0]
    assert row.location == "cloud" and row.cost_usd == pytest.approx((500 * 0.20 + 120 * 0.60) / 1_000_000)
    assert ledger.month_cloud_spend() == pytest.approx(row.cost_usd)


async def test_tier1_stays_on_the_laptop_while_tier2_is_a_shared_ollama(ledger):
    with FakeOllama(answer=GOOD) as laptop, FakeOllama(answer=GOOD) as box:
        settings = settings_from_mapping(base(
            backends={"ollama": {"host": laptop.url}, "box": {"kind": "ollama", "base_url": box.url}},
            tiers={"tier2": {"backend": "box", "model": "llama3.3:70b"}}))
        engine = Engine(settings, ledger=ledger, env={})
        try:
            one = await engine.run(RunRequest(action="ask", text="[tier1] Summarize the build log"))
            two = await engine.run(RunRequest(action="ask", text="[tier2] Summarize the build log"))
        finally:
            await engine.aclose()
    assert (one.backend, two.backend) == ("ollama", "box")
    assert laptop.request_count == 1 and box.request_count == 1


async def test_a_down_host_is_skipped_for_every_tier_on_it_and_only_those(ledger):
    # tier 1 on the built-in ollama and tier 2 on a named instance of the same box: once the host
    # answered 5xx, neither is tried again; tier 3 elsewhere is
    with FakeOllama(answer=GOOD) as box, FakeOpenAI(answer=GOOD) as cloud:
        box.inject(*["500"] * 10)
        settings = settings_from_mapping(base(
            backends={"ollama": {"host": box.url}, "box2": {"kind": "ollama", "base_url": box.url},
                      "openai": {"base_url": cloud.base_url}},
            tiers={"tier2": {"backend": "box2", "model": "llama3.3:70b"}},
            dispatch={"max_retries": 0, "failures_to_trip": 1, "read_timeout_s": 2, "connect_timeout_s": 1}))
        engine = Engine(settings, ledger=ledger, env={"OPENAI_API_KEY": "sk-test-123456"})
        try:
            res = await engine.run(RunRequest(action="ask", text="Summarize the build log"))
        finally:
            await engine.aclose()
    assert res.tier == 3 and box.request_count == 1  # tier 2 on the same host was not asked
    assert [f.reason for f in res.fallbacks] == ["server-error", "host-down"]


async def test_settings_from_the_editor_reach_the_backends_at_once(ledger):
    with FakeOllama(answer="first host says: " + GOOD) as old, FakeOllama(answer=GOOD) as new:
        settings = settings_from_mapping(base(backends={"ollama": {"host": old.url}}))
        engine = Engine(settings, ledger=ledger, env={})
        try:
            await engine.run(RunRequest(action="ask", text="[tier1] Summarize the build log"))
            engine.update_settings(settings_from_mapping(base(backends={"ollama": {"host": new.url}})))
            res = await engine.run(RunRequest(action="ask", text="[tier1] Summarize the log again"))
            engine.update_settings(settings_from_mapping(base(backends={"ollama": {"host": new.url,
                                                                                   "keep_alive": "2h"}})))
            await engine.run(RunRequest(action="ask", text="[tier1] Summarize it once more"))
        finally:
            await engine.aclose()
    assert res.text == GOOD and old.request_count == 1 and new.request_count == 2
    assert new.requests[-1].json["keep_alive"] == "2h"


async def test_an_ollama_cloud_model_is_cloud_for_the_privacy_gate_and_the_budget(ledger, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=1\n")
    with FakeOllama(answer=GOOD, models=("qwen2.5-coder:14b", "gpt-oss:120b-cloud")) as host:
        settings = settings_from_mapping(base(
            backends={"ollama": {"host": host.url}},
            tiers={"tier2": {"backend": "ollama", "model": "gpt-oss:120b-cloud"}},
            ledger={"price_overrides": {"gpt-oss:120b-cloud": [1.0, 1.0]}}))
        engine = Engine(settings, ledger=ledger, env={"OPENAI_API_KEY": "sk-test-0123456789"})
        try:
            private = await engine.run(RunRequest(action="explain", text="DEBUG=1", path=str(env_file), prompt="[tier2]"))
            public = await engine.run(RunRequest(action="ask", text="[tier2] Summarize the build log"))
        finally:
            await engine.aclose()
    chats = [r.json["model"] for r in host.requests if r.path == "/api/chat"]
    assert private.model == "qwen2.5-coder:14b" and chats[0] == "qwen2.5-coder:14b"  # never to ollama.com
    assert public.model == "gpt-oss:120b-cloud"
    row = [r for r in ledger.rows() if r.model == "gpt-oss:120b-cloud"][0]
    assert row.location == "cloud" and ledger.month_cloud_spend() == pytest.approx(row.cost_usd) and row.cost_usd > 0
