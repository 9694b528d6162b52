"""audit: reading exports, tier shares, monthly cost before/after, boundary prompts, the command.
Prices come from `ledger.price_overrides` so the figures do not move with the price snapshot."""

import argparse
import json

import pytest

from hybridlsp.commands.audit import add_parser as add_audit_parser
from hybridlsp.evaluation.audit import AuditRow, audit, format_audit, read_audit_rows
from hybridlsp.config import settings_from_mapping
from datetime import UTC
from tests.support import TableEstimator

S = settings_from_mapping({"ledger": {"price_overrides": {"gpt-4.1": [2.0, 8.0], "big": [10.0, 30.0]}}})


TABLE = TableEstimator({"hard": (3, 0.9), "middling": (2, 0.6), "easy": (1, 0.2), "hopeless": (1, 0.1)})


def rows(**kw):
    base = dict(input_tokens=1000, output_tokens=500, model="big")
    return [AuditRow(prompt=p, **{**base, **kw}) for p in ("hard", "middling", "easy", "hopeless")]


def words(text):
    return len(text.split())


# ---- reading ----------------------------------------------------------------------------------

def test_reads_jsonl_and_csv():
    j = read_audit_rows('{"prompt": "a", "input_tokens": 3, "model": "m", "ts": "2025-01-02T03:04:05Z"}\n\n'
                        '{"prompt": "b", "action": "explain"}\n')
    assert [r.prompt for r in j] == ["a", "b"] and j[0].input_tokens == 3 and j[1].action == "explain"
    assert j[0].ts.isoformat() == "2025-01-02T03:04:05+00:00"
    c = read_audit_rows('prompt,output_tokens,model\n"x, with a comma",7,gpt-4o\ny,,\n')
    assert c[0] == AuditRow(prompt="x, with a comma", output_tokens=7, model="gpt-4o")
    assert c[1].output_tokens is None and c[1].model == ""


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"prompt": "a"}\n{"prompt": ""}\n', "f:2: needs a non-empty"),
        ('{"prompt": "a", "input_tokens": -1}\n', "input_tokens must be >= 0"),
        ('{"prompt": "a", "ts": "yesterday"}\n', "ISO 8601"),
        ('{"prompt": "a", "action": "dance"}\n', "unknown action"),
        ("text,model\na,b\n", "'prompt' column"),
        ("prompt,output_tokens\na,many\n", "f:2: output_tokens must be a whole number"),
        ("", "no prompts"),
    ],
)
def test_bad_input_names_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        read_audit_rows(text, "f")


# ---- figures ----------------------------------------------------------------------------------

def test_shares_and_cost_before_after():
    rep = audit(rows(), S, estimator=TABLE, count_tokens=words)
    assert rep.tier_counts == {1: 2, 2: 1, 3: 1}
    # before: 4 calls on "big" at (1000 * 10 + 500 * 30) / 1e6 = $0.025 each
    assert rep.before_usd == pytest.approx(0.1)
    # after: only the tier-3 call costs money, on gpt-4.1 at (1000 * 2 + 500 * 8) / 1e6
    assert rep.after_usd == pytest.approx(0.006)
    assert rep.calls_per_month == 4 and "one month" in rep.month_basis
    assert rep.after_model == "openai gpt-4.1"


def test_month_from_timestamps_or_as_given():
    from datetime import datetime

    days = [datetime(2025, 3, d, tzinfo=UTC) for d in (1, 2, 2, 3)]  # 4 calls over 2 days
    timed = [AuditRow(**{**r.__dict__, "ts": t}) for r, t in zip(rows(), days)]
    rep = audit(timed, S, estimator=TABLE, count_tokens=words)
    assert rep.calls_per_month == pytest.approx(60)
    assert rep.before_usd == pytest.approx(0.1 * 15) and rep.after_usd == pytest.approx(0.006 * 15)
    given = audit(timed, S, estimator=TABLE, count_tokens=words, calls_per_month=400)
    assert given.before_usd == pytest.approx(10.0) and "as given" in given.month_basis


def test_missing_fields_are_filled_and_said():
    r = [AuditRow("hard"), AuditRow("easy", model="no-such-model-anywhere", input_tokens=10, output_tokens=0)]
    rep = audit(r, S, estimator=TABLE, count_tokens=lambda t: 1000, output_tokens=500)
    assert rep.baseline_rows == 1 and rep.assumed_output == 1
    assert rep.unpriced_before == 1 and rep.unknown_models == ("no-such-model-anywhere",)
    # "hard": no model -> baseline gpt-4.1 with 1000 counted in, 500 assumed out, before and after
    assert rep.before_usd == pytest.approx(0.006) and rep.after_usd == pytest.approx(0.006)
    text = format_audit(rep)
    assert "priced as the baseline" in text and "no known price for no-such-model-anywhere" in text


def test_boundary_prompts():
    rep = audit(rows(), S, estimator=TABLE, count_tokens=words, per_side=1)
    near = {k: [r.row.prompt for r in v] for k, v in rep.boundaries.items()}
    # the hardest prompt of the lower tier and the easiest of the upper one
    assert near == {(1, 2): ["easy", "middling"], (2, 3): ["middling", "hard"]}
    text = format_audit(rep)
    assert "closest to the tier 1 | tier 2 boundary" in text and "tier 3  0.900  hard" in text


def test_report_text_and_json():
    rep = audit(rows(), S, estimator=TABLE, count_tokens=words)
    text = format_audit(rep)
    expected_lines = ("4 prompts", "tier 1 50.0% (2)", "before  $0.1000", "after   $0.0060",
                      "saving  $0.0940 a month (94%)")
    for expected in expected_lines:
        assert expected in text
    data = rep.to_json()
    assert data["tier_shares"] == {"1": 0.5, "2": 0.25, "3": 0.25}
    assert data["boundaries"]["2|3"][-1]["prompt"] == "hard"


def test_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYBRIDLSP_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text('[ledger]\nprice_overrides = { "big" = [10.0, 30.0] }\n')
    f = tmp_path / "calls.csv"
    f.write_text("prompt,input_tokens,output_tokens,model\nSummarize this,100,50,big\n[cloud] Prove it,100,50,big\n")
    parser = argparse.ArgumentParser()
    add_audit_parser(parser.add_subparsers())
    args = parser.parse_args(["audit", str(f), "--json", "--difficulty", "keywords"])
    assert args.fn(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tier_shares"] == {"1": 0.5, "2": 0.0, "3": 0.5}
    assert data["monthly_usd_before"] == pytest.approx(2 * (100 * 10 + 50 * 30) / 1e6)
