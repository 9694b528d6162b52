"""What a request cost, in USD: catalogue prices for cloud models, hardware time for local ones.

Cloud prices come from genai-prices' bundled snapshot only: the server never fetches price
updates, so costs are reproducible offline. `genai_prices` is imported on first use: importing it
took ~0.16 s cold (~0.05 s with pydantic already loaded; it pulls in an HTTP client for its
updater) and the first lookup ~0.02 s more to load its data, time the server should not spend
before answering `initialize`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..backends.location import is_local  # hardware, no per-token bill

if TYPE_CHECKING:
    from ..config import LedgerSettings, Settings

__all__ = ["price_usd", "local_cost_usd", "cost_usd", "baseline_cost"]

_MTOK = 1_000_000


def _override_price(model: str, rates: list[float], input_tokens: int, output_tokens: int) -> float:
    if len(rates) != 2 or any(r < 0 for r in rates):
        raise ConfigError(
            f"ledger.price_overrides.{model}", "expected [input, output] USD per million tokens, both >= 0"
        )
    return (input_tokens * rates[0] + output_tokens * rates[1]) / _MTOK


@lru_cache(maxsize=4096)
def _catalogue_price(model: str, provider: str | None, input_tokens: int, output_tokens: int) -> float | None:
    # Keyed on token counts too: some models (e.g. long-context Claude) price by request size tiers.
    from genai_prices import Usage, calc_price  # ~0.16 s cold: only at the first price looked up

    try:
        calc = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens), model_ref=model, provider_id=provider
        )
    except LookupError:
        return None
    return float(calc.total_price)


def price_usd(
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    overrides: dict[str, list[float]] | None = None,
) -> float | None:
    """Catalogue price of one call, or None when the model is unknown (shown as "unknown price").

    `overrides` maps a model name to [input, output] USD per million tokens and wins over the
    catalogue, for private deployments and models genai-prices does not list.
    """
    if overrides and model in overrides:
        return _override_price(model, overrides[model], input_tokens, output_tokens)
    return _catalogue_price(model, provider, input_tokens, output_tokens)


def local_cost_usd(hourly_cost_usd: float, latency_s: float) -> float:
    """Hardware cost of a local model: its hourly cost spread over the time it was busy."""
    return hourly_cost_usd * max(latency_s, 0.0) / 3600


def cost_usd(
    backend: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    latency_s: float = 0.0,
    hourly_cost_usd: float = 0.0,
    overrides: dict[str, list[float]] | None = None,
) -> float | None:
    """What one attempt cost: hardware time on a local backend, the catalogue price on a cloud one."""
    if is_local(backend):
        return local_cost_usd(hourly_cost_usd, latency_s)
    return price_usd(model, backend, input_tokens, output_tokens, overrides)


def baseline_cost(settings: Settings | LedgerSettings, input_tokens: int, output_tokens: int) -> float | None:
    """What the request would have cost sent straight to the all-cloud baseline model.

    Takes the whole `Settings` or just its `ledger` section.
    """
    ledger = getattr(settings, "ledger", settings)
    return price_usd(
        ledger.baseline_model, ledger.baseline_provider, input_tokens, output_tokens, ledger.price_overrides
    )
