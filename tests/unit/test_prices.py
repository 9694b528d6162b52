import os
import subprocess
import sys

import pytest

from hybridlsp.config import LedgerSettings, Settings, settings_from_mapping
from hybridlsp.errors import ConfigError
from hybridlsp.ledger import baseline_cost, cost_usd, local_cost_usd, price_usd

M = 1_000_000


@pytest.mark.parametrize(
    "model, provider, input_tokens, output_tokens, expected",
    [
        ("gpt-4o", "openai", M, 0, 2.50),  # 2.50 USD per Mtok in
        ("gpt-4o", "openai", 0, M, 10.0),  # 10 USD per Mtok out
        ("gpt-4o", "openai", 1000, 500, 0.0075),
        ("GPT-4o", "openai", M, 0, 2.50),  # model names match case-insensitively
        ("gpt-4.1", "openai", 2000, 1000, 0.012),  # 2 / 8
        ("gpt-4o-mini", None, M, M, 0.75),  # provider guessed from the model
        ("claude-3-5-haiku-latest", "anthropic", M, M, 4.80),
        # long-context pricing: above 200k input tokens the rate doubles, so a cache keyed on
        # the model alone would be wrong for one of these two
        ("claude-sonnet-4-5", "anthropic", 100_000, 0, 0.30),
        ("claude-sonnet-4-5", "anthropic", M, 0, 6.00),
        ("gpt-4o", "openai", 0, 0, 0.0),
    ],
)
def test_catalogue_prices(model, provider, input_tokens, output_tokens, expected):
    assert price_usd(model, provider, input_tokens, output_tokens) == pytest.approx(expected)


@pytest.mark.parametrize(
    "model, provider",
    [
        ("nonexistent-model-xyz", None),
        ("nonexistent-model-xyz", "openai"),
        ("qwen2.5-coder:14b", "ollama"),  # genai-prices knows no local provider
        ("gpt-4o", "no-such-provider"),
    ],
)
def test_unknown_model_has_no_price(model, provider):
    assert price_usd(model, provider, 1000, 1000) is None


@pytest.mark.parametrize(
    "model, overrides, expected",
    [
        ("gpt-4o", {"gpt-4o": [1.0, 2.0]}, 3.0),  # override beats the catalogue's 2.50 / 10
        ("my-private-model", {"my-private-model": [0.5, 0.25]}, 0.75),  # makes an unknown model priced
        ("gpt-4o", {"other-model": [1.0, 2.0]}, 12.5),  # an override for another model changes nothing
        ("gpt-4o", {"gpt-4o": [0.0, 0.0]}, 0.0),
    ],
)
def test_override_wins(model, overrides, expected):
    assert price_usd(model, "openai", M, M, overrides) == pytest.approx(expected)


@pytest.mark.parametrize("rates", [[1.0], [1.0, 2.0, 3.0], [-1.0, 2.0], []])
def test_malformed_override_names_the_key(rates):
    with pytest.raises(ConfigError, match=r"ledger\.price_overrides\.m"):
        price_usd("m", "openai", 10, 10, {"m": rates})


@pytest.mark.parametrize(
    "hourly, latency_s, expected",
    [
        (0.0, 10.0, 0.0),
        (3.6, 10.0, 0.01),
        (1.8, 3600.0, 1.8),
        (2.0, 0.0, 0.0),
        (2.0, -1.0, 0.0),  # a clock step backwards is not a refund
    ],
)
def test_local_cost_is_hardware_time(hourly, latency_s, expected):
    assert local_cost_usd(hourly, latency_s) == pytest.approx(expected)


@pytest.mark.parametrize(
    "backend, model, kwargs, expected",
    [
        ("ollama", "qwen2.5-coder:14b", {}, 0.0),
        ("embedded", "smollm2", {}, 0.0),
        # local backends never use the catalogue, even for a model name it knows
        ("ollama", "gpt-4o", {}, 0.0),
        ("ollama", "llama3.3:70b", {"hourly_cost_usd": 3.6, "latency_s": 10.0}, 0.01),
        ("ollama", "llama3.3:70b", {"overrides": {"llama3.3:70b": [5.0, 5.0]}}, 0.0),
        ("openai", "gpt-4o", {"hourly_cost_usd": 3.6, "latency_s": 10.0}, 12.5),  # hourly cost is local only
        ("openai", "gpt-4o", {"overrides": {"gpt-4o": [1.0, 1.0]}}, 2.0),
        ("anthropic", "nonexistent-model-xyz", {}, None),
    ],
)
def test_cost_of_an_attempt(backend, model, kwargs, expected):
    got = cost_usd(backend, model, M, M, **kwargs)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    "settings, expected",
    [
        (Settings(), 10.0),  # default baseline gpt-4.1: 2 + 8
        (LedgerSettings(), 10.0),  # the ledger section alone works too
        (settings_from_mapping({"ledger": {"baselineModel": "gpt-4o"}}), 12.5),
        (settings_from_mapping({"ledger": {"price_overrides": {"gpt-4.1": [1.0, 1.0]}}}), 2.0),
        (
            settings_from_mapping(
                {"ledger": {"baseline_model": "claude-3-5-haiku-latest", "baseline_provider": "anthropic"}}
            ),
            4.8,
        ),
        (settings_from_mapping({"ledger": {"baseline_model": "nonexistent-model-xyz"}}), None),
    ],
)
def test_baseline_cost(settings, expected):
    got = baseline_cost(settings, M, M)
    assert got == (None if expected is None else pytest.approx(expected))


def test_importing_the_ledger_does_not_import_genai_prices():
    # genai-prices takes ~0.16 s to import; the server must not pay it before answering initialize
    code = "import sys, hybridlsp.ledger; sys.exit(1 if 'genai_prices' in sys.modules else 0)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
