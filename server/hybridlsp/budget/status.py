"""Cloud budgets as people see them: a warning before a cap, a notice at it, a question before
an unusually expensive request.

Enforcement lives in the tier policy (`routing.policy.decide`): at 100 % of either cap a cloud
decision degrades to tier 2. `budget_status` uses the same comparison (spend >= cap), so "over"
here is exactly when routing has started keeping requests local. Pure, no I/O: callers pass the
spend they read from `Ledger.month_cloud_spend()` / `Ledger.day_cloud_spend()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..backends.location import is_local
from ..ledger.prices import price_usd

if TYPE_CHECKING:
    from ..config import BudgetSettings, Settings

__all__ = [
    "BudgetStatus",
    "BudgetWatch",
    "budget_status",
    "estimate_cloud_cost",
    "needs_confirmation",
    "confirmation_message",
]

_LEVELS = ("ok", "warn", "over")


@dataclass(frozen=True)
class BudgetStatus:
    level: str  # ok | warn | over
    message: str  # "" when no cap is set


def _budget(settings: Settings | BudgetSettings) -> BudgetSettings:
    return getattr(settings, "budget", settings)


def _cap_status(name: str, resets: str, cap: float, spend: float, warn_fraction: float) -> BudgetStatus:
    share = f"${spend:.2f} of ${cap:.2f} ({spend / cap * 100:.0f} %)"
    if spend >= cap:
        return BudgetStatus("over", f"{name} cloud budget spent: {share}; cloud requests go to tier 2 until {resets}")
    if spend >= round(warn_fraction * cap, 9):  # 0.8 x $7 is 5.6000000000000005
        return BudgetStatus(
            "warn", f"{name} cloud budget {share} spent; at ${cap:.2f} cloud requests go to tier 2 until {resets}"
        )
    return BudgetStatus("ok", f"{name} cloud budget {share} spent")


def budget_status(settings: Settings | BudgetSettings, month_spend: float, day_spend: float) -> BudgetStatus:
    """The worse of the monthly and daily caps (0 = no cap). Takes `Settings` or its `budget`."""
    b = _budget(settings)
    found = []
    if b.monthly_cloud_usd:
        found.append(_cap_status("monthly", "next month (UTC)", b.monthly_cloud_usd, month_spend, b.warn_fraction))
    if b.daily_cloud_usd:
        found.append(_cap_status("daily", "tomorrow (UTC)", b.daily_cloud_usd, day_spend, b.warn_fraction))
    if not found:
        return BudgetStatus("ok", "")
    # the monthly cap wins a tie: it is the one that lasts longer
    return max(found, key=lambda s: _LEVELS.index(s.level))


class BudgetWatch:
    """Say each warning once: `update` returns the status only when the level rises (ok -> warn,
    warn -> over), so the editor does not show the same message after every request. A fall
    (a new day or month) is remembered silently, so the next rise is said again."""

    def __init__(self) -> None:
        self.level = "ok"

    def update(self, status: BudgetStatus) -> BudgetStatus | None:
        rose = _LEVELS.index(status.level) > _LEVELS.index(self.level)
        self.level = status.level
        return status if rose else None


def estimate_cloud_cost(
    settings: Settings, input_tokens: int, max_output_tokens: int, *, tier: int = 3
) -> float | None:
    """The most a request to `tier` can cost: its input plus a full output budget, at catalogue
    prices (`ledger.price_overrides` win). 0.0 for a tier on a local backend (no bill); None when
    the model's price is unknown."""
    ts = settings.tier(tier)
    if is_local(ts.backend):
        return 0.0
    return price_usd(ts.model, ts.backend, input_tokens, max_output_tokens, settings.ledger.price_overrides)


def needs_confirmation(settings: Settings | BudgetSettings, estimated_cost_usd: float | None) -> bool:
    """Ask before sending when the estimate is above `budget.confirm_above_usd` (0 = never ask).
    An unknown price (None) asks too: the person set a limit, and we cannot show it is kept."""
    limit = _budget(settings).confirm_above_usd
    if not limit:
        return False
    return estimated_cost_usd is None or estimated_cost_usd > limit


def confirmation_message(
    estimated_cost_usd: float | None, model: str, input_tokens: int, max_output_tokens: int
) -> str:
    """The question shown before an expensive request (LSP showMessageRequest, CLI prompt)."""
    if estimated_cost_usd is None:
        cost = "an unknown price (set ledger.price_overrides to price it)"
    else:
        cost = f"up to ${estimated_cost_usd:.2f}"
    return (
        f"This request goes to {model}: {input_tokens:,} tokens in, up to {max_output_tokens:,} out, "
        f"for {cost}. Send it?"
    )
