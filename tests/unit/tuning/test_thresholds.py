"""tune: evidence from ledger rows, bounded moves, the TOML edit, dry run, apply and revert."""

import argparse
from datetime import datetime, UTC

import pytest

from hybridlsp.ledger.records import RequestRecord
from hybridlsp.backends.settings import load_settings
from hybridlsp.errors import HybridError
from hybridlsp.ledger import Feedback, Ledger, Row
from hybridlsp.commands.tune import add_parser as add_tune_parser
from hybridlsp.tuning.thresholds import (
    KNOBS,
    Counts,
    apply,
    backup_file,
    collect,
    propose,
    revert,
    set_routing_values,
)

KNOB = {k.key: k for k in KNOBS}
DEFAULTS = {"explain_tier2_tokens": 1500, "commit_tier2_tokens": 1500, "review_cloud_tokens": 6000,
            "cloud_share_target": 0.2}


def row(id, action="explain", tier=1, bucket="s", **kw):
    return Row(id=id, ts="2025-01-01T00:00:00+00:00", action=action, tier=tier, backend="ollama", model="m",
               cost_usd=0.0, size_bucket=bucket, **kw)


# ---- evidence -------------------------------------------------------------------------------

def test_collect_counts_problems_by_decided_tier():
    rows = [
        row("a"),  # fine
        row("b", validator="fail"),  # best effort
        row("h1", kind="hop", parent_id="c", hop=1, tier=1, reason="invalid-answer"),
        row("c", tier=2, outcome="fallback"),  # escalated from tier 1: counts on tier 1
        row("h2", kind="hop", parent_id="d", hop=1, tier=1, reason="rate-limited"),
        row("d", tier=2, outcome="fallback"),  # fell back for an outage: decided tier 1, no problem
        row("e"),  # marked bad
        row("f", outcome="cache-hit"),  # not a decision: left out
        row("g", outcome="cancelled"),
        row("x", action="ask", tier=3, bucket="xs"),
    ]
    ev = collect(rows, [Feedback("e", "t", "bad"), Feedback("a", "t", "good")])
    assert ev[("explain", "s", 1)] == Counts(requests=5, escalated=1, validator_failed=1, bad=1, problems=3)
    assert ev[("ask", "xs", 3)] == Counts(requests=1)
    assert len(ev) == 2


# ---- proposals ------------------------------------------------------------------------------

def ev(action, bucket, tier, n, problems):
    return {(action, bucket, tier): Counts(requests=n, validator_failed=problems, problems=problems)}


@pytest.mark.parametrize(
    "evidence,key,current,expected,why",
    [
        (ev("explain", "s", 1, 40, 8), "explain_tier2_tokens", 1500, 1125, "send more up"),
        (ev("explain", "xs", 1, 40, 0), "explain_tier2_tokens", 1500, 1875, "keep more local"),
        (ev("explain", "s", 1, 40, 2), "explain_tier2_tokens", 1500, 1500, "within"),
        (ev("explain", "s", 1, 19, 19), "explain_tier2_tokens", 1500, 1500, "too few"),
        # a tier-2 explain, or one far above the threshold, says nothing about the threshold
        (ev("explain", "s", 2, 40, 40), "explain_tier2_tokens", 1500, 1500, "too few"),
        (ev("explain", "l", 1, 40, 40), "explain_tier2_tokens", 1500, 1500, "too few"),
        (ev("explain", "s", 1, 40, 40), "explain_tier2_tokens", 750, 750, "at its bound"),
        (ev("explain", "s", 1, 40, 0), "explain_tier2_tokens", 2250, 2250, "at its bound"),
        (ev("explain", "s", 1, 40, 40), "explain_tier2_tokens", 400, 400, "outside tune's bounds"),
        (ev("commit-message", "s", 1, 30, 10), "commit_tier2_tokens", 1500, 1125, "send more up"),
        (ev("review", "m", 2, 30, 10), "review_cloud_tokens", 6000, 4500, "send more up"),
        (ev("review", "s", 2, 30, 0), "review_cloud_tokens", 6000, 7500, "keep more local"),
        (ev("ask", "xs", 1, 30, 10) | ev("ask", "l", 2, 10, 0), "cloud_share_target", 0.2, 0.25, "send more up"),
        (ev("ask", "xs", 1, 50, 1), "cloud_share_target", 0.2, 0.15, "keep more local"),
        (ev("ask", "xs", 3, 50, 50), "cloud_share_target", 0.2, 0.2, "too few"),
        (ev("ask", "xs", 1, 50, 50), "cloud_share_target", 0.3, 0.3, "at its bound"),
    ],
)
def test_propose(evidence, key, current, expected, why):
    (p,) = [p for p in propose(evidence, {**DEFAULTS, key: current}) if p.knob.key == key]
    assert p.new == pytest.approx(expected)
    assert why in p.why
    assert p.line().startswith(f"  routing.{key}")


@pytest.mark.parametrize("knob", KNOBS, ids=lambda k: k.key)
def test_moves_stay_within_half_the_default(knob):
    seen = set()
    for move in (knob.stronger, knob.cheaper):
        v = knob.default
        for _ in range(10):
            v = move(v)
            assert knob.default * 0.5 <= v <= knob.default * 1.5 + 1e-9
        seen.add(v)
    # tokens: stronger lowers the threshold; the cloud share: stronger raises it
    assert seen == {knob.low, knob.high}
    assert (knob.stronger(knob.default) < knob.default) == knob.tokens


# ---- editing the config file ----------------------------------------------------------------

@pytest.mark.parametrize(
    "before,after",
    [
        ("", "[routing]\nexplain_tier2_tokens = 1125\n"),
        ('[tiers.tier1]\nmodel = "q"\n', '[tiers.tier1]\nmodel = "q"\n\n[routing]\nexplain_tier2_tokens = 1125\n'),
        (
            "# mine\n[routing]\nexplain_tier2_tokens = 1500  # old\ndefault_tier = 1\n\n"
            "[budget]\ndaily_cloud_usd = 1.0\n",
            "# mine\n[routing]\nexplain_tier2_tokens = 1125\ndefault_tier = 1\n\n[budget]\ndaily_cloud_usd = 1.0\n",
        ),
        (
            "[routing]\ndefault_tier = 1\n\n[budget]\ndaily_cloud_usd = 1.0\n",
            "[routing]\ndefault_tier = 1\nexplain_tier2_tokens = 1125\n\n[budget]\ndaily_cloud_usd = 1.0\n",
        ),
    ],
)
def test_set_routing_values_keeps_the_rest(before, after):
    assert set_routing_values(before, {"explain_tier2_tokens": 1125}) == after


def test_set_routing_values_float_and_refusals():
    assert set_routing_values("", {"cloud_share_target": 0.25}) == "[routing]\ncloud_share_target = 0.25\n"
    with pytest.raises(HybridError, match="set by hand under \\[routing\\]: explain_tier2_tokens = 1125"):
        set_routing_values("routing.explain_tier2_tokens = 1500\n", {"explain_tier2_tokens": 1125})
    with pytest.raises(HybridError, match="not valid TOML"):
        set_routing_values("[routing\n", {"explain_tier2_tokens": 1125})


def moved(key="explain_tier2_tokens", new=1125):
    (p,) = [p for p in propose(ev("explain", "s", 1, 40, 8), DEFAULTS) if p.knob.key == key]
    assert p.new == new
    return [p]


def test_apply_and_revert_round_trip(tmp_path):
    config = tmp_path / "config.toml"
    original = "# my settings\n[routing]\ndefault_tier = 2\n"
    config.write_text(original)
    assert apply(moved(), config) == {"explain_tier2_tokens": 1125}
    settings, _ = load_settings(env={"HYBRIDLSP_HOME": str(tmp_path)})
    assert settings.routing.explain_tier2_tokens == 1125 and settings.routing.default_tier == 2
    assert backup_file(config).is_file()
    assert "restored" in revert(config)
    assert config.read_text() == original and not backup_file(config).exists()
    with pytest.raises(HybridError, match="nothing to revert"):
        revert(config)


def test_revert_removes_a_file_apply_created(tmp_path):
    config = tmp_path / "sub" / "config.toml"
    apply(moved(), config)
    assert "removed" in revert(config)
    assert not config.exists()


def test_revert_refuses_to_lose_later_edits(tmp_path):
    config = tmp_path / "config.toml"
    apply(moved(), config)
    config.write_text(config.read_text() + "default_tier = 2\n")
    with pytest.raises(HybridError, match="--force"):
        revert(config)
    revert(config, force=True)
    assert not config.exists()


def test_nothing_to_move_writes_nothing(tmp_path):
    config = tmp_path / "config.toml"
    assert apply(propose({}, DEFAULTS), config) == {}
    assert not config.exists() and not backup_file(config).exists()


# ---- the command, on a real ledger ----------------------------------------------------------

def run(*argv):
    parser = argparse.ArgumentParser()
    add_tune_parser(parser.add_subparsers())
    args = parser.parse_args(["tune", *argv])
    return args.fn(args)


def fill_ledger(path, n=25, failed=5):
    with Ledger(path) as led:
        for i in range(n):
            led.record_request(RequestRecord(
                action="explain", tier=1, backend="ollama", model="m", input_tokens=800, output_tokens=100,
                latency_ms=10, cost_usd=0.0, baseline_cost_usd=0.001, validator="fail" if i < failed else "pass"), ts=datetime(2025, 1, 1, tzinfo=UTC))


def test_command_dry_run_apply_revert(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYBRIDLSP_HOME", str(tmp_path))
    config = tmp_path / "config.toml"

    assert run() == 0  # nothing recorded yet: says so, creates nothing
    assert "no ledger yet" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    fill_ledger(tmp_path / "ledger.sqlite3")  # 5 of 25 small explains failed validation: 20 %
    assert run("--dry-run") == 0
    out = capsys.readouterr().out
    assert "routing.explain_tier2_tokens   1,500 -> 1,125" in out and "5 of 25 had a problem (20% >= 15%)" in out
    assert "dry run: nothing written" in out and not config.exists()

    assert run("--apply") == 0
    assert "wrote" in capsys.readouterr().out
    assert load_settings(env={"HYBRIDLSP_HOME": str(tmp_path)})[0].routing.explain_tier2_tokens == 1125

    # the same evidence does not move it again: it counts from the last --apply on
    assert run("--apply") == 0
    assert "too few" in capsys.readouterr().out
    assert load_settings(env={"HYBRIDLSP_HOME": str(tmp_path)})[0].routing.explain_tier2_tokens == 1125

    assert run("--revert") == 0
    assert not config.exists()
