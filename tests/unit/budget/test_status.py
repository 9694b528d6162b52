"""Budget warnings, the confirmation threshold and the cost estimate, as tables of cases; and that
"over" here is exactly when the tier policy starts keeping cloud requests local."""

import pytest

from hybridlsp.backends.location import cloud_backends
from hybridlsp.budget.status import (
    BudgetStatus,
    BudgetWatch,
    budget_status,
    confirmation_message,
    estimate_cloud_cost,
    needs_confirmation,
)
from hybridlsp.config import settings_from_mapping
from hybridlsp.ledger.prices import price_usd
from hybridlsp.routing import RouteRequest, decide


def caps(monthly=0.0, daily=0.0, warn=0.8, confirm=0.0):
    return settings_from_mapping(
        {"budget": {"monthly_cloud_usd": monthly, "daily_cloud_usd": daily, "warn_fraction": warn,
                    "confirm_above_usd": confirm}}
    )


@pytest.mark.parametrize(
    "monthly,daily,month_spend,day_spend,level,words",
    [
        (0, 0, 500.0, 50.0, "ok", ""),  # no caps: nothing to say however much is spent
        (10, 0, 7.99, 0, "ok", "monthly"),
        (10, 0, 8.00, 0, "warn", "$8.00 of $10.00 (80 %)"),
        (10, 0, 9.99, 0, "warn", "monthly"),
        (10, 0, 10.00, 0, "over", "until next month"),
        (10, 0, 12.50, 0, "over", "(125 %)"),
        (0, 1, 0, 0.79, "ok", "daily"),
        (0, 1, 0, 0.80, "warn", "daily"),
        (0, 1, 0, 1.00, "over", "until tomorrow"),
        (10, 1, 2.0, 1.2, "over", "daily"),  # the worse cap wins
        (10, 1, 9.0, 0.1, "warn", "monthly"),
        (10, 1, 9.0, 0.9, "warn", "monthly"),  # a tie goes to the monthly cap
        (10, 1, 10.0, 1.0, "over", "monthly"),
    ],
)
def test_budget_status(monthly, daily, month_spend, day_spend, level, words):
    st = budget_status(caps(monthly, daily), month_spend, day_spend)
    assert st.level == level
    assert words in st.message
    if level == "ok" and not (monthly or daily):
        assert st.message == ""


@pytest.mark.parametrize("cap, spend, level", [(7.0, 5.6, "warn"), (7.0, 5.59, "ok"), (1.1, 0.88, "warn")])
def test_the_warning_holds_at_exactly_its_fraction_of_the_cap(cap, spend, level):
    # 0.8 x $7 is 5.6000000000000005 in floating point: $5.60 spent is 80 % all the same
    assert budget_status(caps(monthly=cap), spend, 0).level == level


def test_warn_fraction_is_a_setting_and_budget_section_alone_works():
    s = caps(monthly=10, warn=0.5)
    assert budget_status(s, 5.0, 0).level == "warn"
    assert budget_status(s.budget, 4.99, 0).level == "ok"


@pytest.mark.parametrize("month_spend", [0.0, 7.9, 8.0, 9.999, 10.0, 10.01, 30.0])
@pytest.mark.parametrize("day_spend", [0.0, 0.5, 0.99, 1.0, 3.0])
def test_over_is_exactly_when_routing_degrades_cloud_to_tier2(month_spend, day_spend):
    s = caps(monthly=10, daily=1)
    d = decide(
        RouteRequest(action="ask", text="[cloud] analyze", input_tokens=50,
                     month_cloud_spend_usd=month_spend, day_cloud_spend_usd=day_spend, cloud_backends=cloud_backends()),
        s,
    )
    over = budget_status(s, month_spend, day_spend).level == "over"
    assert (d.tier == 2) == over
    assert any("budget" in r for r in d.reasons) == over


def test_watch_says_each_rise_once():
    w = BudgetWatch()
    ok, warn, over = BudgetStatus("ok", ""), BudgetStatus("warn", "w"), BudgetStatus("over", "o")
    said = [w.update(s) for s in (ok, warn, warn, over, over, warn, ok, warn)]
    # the fall over -> warn (a new day) is silent; after it falls to ok, the next warning is said again
    assert said == [None, warn, None, over, None, None, None, warn]


@pytest.mark.parametrize(
    "confirm,estimate,ask",
    [
        (0.0, 100.0, False),  # 0 = never ask
        (0.0, None, False),
        (0.5, 0.49, False),
        (0.5, 0.5, False),  # "above" the threshold, not at it
        (0.5, 0.51, True),
        (0.5, None, True),  # unknown price with a limit set: ask
    ],
)
def test_needs_confirmation(confirm, estimate, ask):
    assert needs_confirmation(caps(confirm=confirm), estimate) is ask


def test_estimate_is_the_catalogue_price_of_input_plus_full_output_budget():
    s = settings_from_mapping({})
    est = estimate_cloud_cost(s, 100_000, 4096)
    assert est == pytest.approx(price_usd("gpt-4.1", "openai", 100_000, 4096))
    assert est > estimate_cloud_cost(s, 100_000, 100) > 0


def test_estimate_uses_overrides_local_tiers_and_unknown_models():
    s = settings_from_mapping({
        "tiers": {"tier3": {"backend": "anthropic", "model": "team-claude"}},
        "ledger": {"price_overrides": {"team-claude": [3.0, 15.0]}},
    })
    assert estimate_cloud_cost(s, 1_000_000, 1_000_000) == pytest.approx(18.0)
    assert estimate_cloud_cost(s, 10_000, 1000, tier=2) == 0.0  # tier 2 is Ollama: no bill
    unknown = settings_from_mapping({"tiers": {"tier3": {"backend": "openai", "model": "no-such-model-xyz"}}})
    assert estimate_cloud_cost(unknown, 10, 10) is None


def test_confirmation_message_shows_the_estimate():
    msg = confirmation_message(1.234, "gpt-4.1", 120_000, 4096)
    assert "gpt-4.1" in msg and "120,000" in msg and "4,096" in msg and "$1.23" in msg
    assert "price_overrides" in confirmation_message(None, "x", 1, 1)
