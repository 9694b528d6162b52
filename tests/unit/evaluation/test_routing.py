"""eval-routing: the recovery curve (CPT, APGR) on hand-computed cases, the random baseline, the
report on a tiny file, and the command."""

import argparse
import json
import xml.etree.ElementTree as ET

import pytest

from hybridlsp.config import Settings, settings_from_mapping
from hybridlsp.commands.eval_routing import add_parser as add_eval_routing_parser
from hybridlsp.evaluation.routing import (
    EvalRow,
    evaluate,
    format_report,
    read_eval_rows,
    recovery_curve,
    render_svg,
    terminal_plot,
)
from tests.support import TableEstimator

# ---- the curve ------------------------------------------------------------------------------

# keys, q_weak, q_strong -> breakpoints, APGR, {level: CPT}, {share: recovered}
CASES = [
    pytest.param(
        # gains 1, 1, 0, 0; gap 0.5: the two gains come first
        [3, 2, 1, 0], [0, 0, 1, 0], [1, 1, 1, 0],
        [(0, 0), (0.25, 0.5), (0.5, 1), (0.75, 1), (1, 1)],
        0.75, {0.5: 0.25, 0.8: 0.4, 0.95: 0.475}, {0.2: 0.4, 0.25: 0.5, 0.6: 1.0},
        id="perfect-order",
    ),
    pytest.param(
        # all tied: expectation over random order, i.e. the random router
        [1, 1, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0],
        [(0, 0), (1, 1)],
        0.5, {0.5: 0.5, 0.8: 0.8, 0.95: 0.95}, {0.2: 0.2, 0.5: 0.5},
        id="ties-are-random",
    ),
    pytest.param(
        # gains 1, -1, 1; gap 1/3: a strong loss in the middle dips the curve
        [2, 1, 0], [0, 1, 0], [1, 0, 1],
        [(0, 0), (1 / 3, 1), (2 / 3, 0), (1, 1)],
        0.5, {0.5: 1 / 6, 0.8: 0.8 / 3, 0.95: 0.95 / 3}, {0.5: 0.5, 2 / 3: 0.0},
        id="negative-gain",
    ),
    pytest.param(
        # the worst order: gains last
        [0, 1, 2, 3], [0, 0, 1, 0], [1, 1, 1, 0],
        [(0, 0), (0.25, 0), (0.5, 0), (0.75, 0.5), (1, 1)],
        0.25, {0.5: 0.75, 0.8: 0.9, 0.95: 0.975}, {0.2: 0.0},
        id="reverse-order",
    ),
    pytest.param(
        # fractional qualities (MT-Bench scores / 10), one tie pair
        [2, 1, 1, 0], [0.5, 0.8, 0.6, 0.9], [0.9, 1.0, 1.0, 0.9],
        [(0, 0), (0.25, 0.4), (0.75, 1), (1, 1)],
        0.65, {0.5: 1 / 3, 0.8: 7 / 12, 0.95: 17 / 24},
        {0.5: 0.7},
        id="fractional-with-tie",
    ),
]


@pytest.mark.parametrize("keys,qw,qs,points,apgr,cpt,at", CASES)
def test_curve(keys, qw, qs, points, apgr, cpt, at):
    c = recovery_curve(keys, qw, qs)
    assert c.shares == pytest.approx([x for x, _ in points])
    assert c.recovered == pytest.approx([y for _, y in points])
    assert c.apgr == pytest.approx(apgr)
    for level, share in cpt.items():
        assert c.cpt(level) == pytest.approx(share), level
    for share, rec in at.items():
        assert c.at(share) == pytest.approx(rec), share
    assert c.quality_at(0) == pytest.approx(sum(qw) / len(qw))
    assert c.quality_at(1) == pytest.approx(sum(qs) / len(qs))


def test_random_router_is_the_diagonal():
    qw = [0.1 * (i % 7) for i in range(50)]
    qs = [min(1.0, w + 0.3 * (i % 3)) for i, w in enumerate(qw)]
    c = recovery_curve([0] * 50, qw, qs)
    assert c.apgr == pytest.approx(0.5)
    for s in (0.1, 0.2, 0.5, 0.9):
        assert c.at(s) == pytest.approx(s) and c.cpt(s) == pytest.approx(s)


def test_no_gap_is_a_clear_error():
    with pytest.raises(ValueError, match="no gap to recover"):
        recovery_curve([1, 0], [1, 0.5], [1, 0.5])
    with pytest.raises(ValueError, match="at least one prompt"):
        recovery_curve([], [], [])


# ---- the file ---------------------------------------------------------------------------------

def line(**kw):
    return json.dumps(kw)


def test_read_rows():
    rows = read_eval_rows([line(id="a", prompt="p", q=[0, 1]), "", line(prompt="r", action="explain", q=[1, 0.5])])
    assert rows[0] == EvalRow("a", "p", (0.0, 1.0))
    assert rows[1].id == "3" and rows[1].action == "explain"
    # two values: tiers 1 and 2 share the local one
    assert [rows[1].quality(t) for t in (1, 2, 3)] == [1.0, 1.0, 0.5]
    three = read_eval_rows([line(prompt="p", q=[0.1, 0.2, 0.3])])[0]
    assert [three.quality(t) for t in (1, 2, 3)] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    "bad,message",
    [
        ("{not json", "f.jsonl:2:"),
        (line(q=[0, 1]), '"prompt" must be a string'),
        (line(prompt="p", q=[1]), "2 or 3 numbers"),
        (line(prompt="p", q=[0, 2]), "within 0..1"),
        (line(prompt="p", q=[0, 1], action="dance"), "unknown action"),
        (line(prompt="p", q=[0, 0.5, 1]), "same number of q values"),
    ],
)
def test_bad_rows_name_the_line(bad, message):
    with pytest.raises(ValueError, match=message):
        read_eval_rows([line(prompt="ok", q=[0, 1]), bad], "f.jsonl")


# ---- the report -------------------------------------------------------------------------------

TINY = [
    EvalRow("1", "hard", (0.0, 0.5, 1.0), input_tokens=10),
    EvalRow("2", "middling", (0.5, 1.0, 1.0), input_tokens=10),
    EvalRow("3", "easy", (1.0, 1.0, 1.0), input_tokens=10),
    EvalRow("4", "hopeless", (0.0, 0.0, 0.0), input_tokens=10),
]
TABLE = TableEstimator({"hard": (3, 0.9), "middling": (2, 0.6), "easy": (1, 0.2), "hopeless": (1, 0.1)})


def test_report_on_a_hand_computed_file():
    rep = evaluate(TINY, Settings(), TABLE)
    assert rep.tier_shares == {1: 0.5, 2: 0.25, 3: 0.25}
    assert rep.cloud_share == 0.25  # tier 3 is the only cloud backend by default
    assert rep.quality == pytest.approx(0.75)
    assert rep.quality_all_cloud == pytest.approx(0.75) and rep.kept == pytest.approx(1.0)
    # random with the same shares: .5 * mean(q1) + .25 * mean(q2) + .25 * mean(q3)
    assert rep.quality_random == pytest.approx(0.5 * 0.375 + 0.25 * 0.625 + 0.25 * 0.75)
    assert rep.kept_random == pytest.approx(0.53125 / 0.75)
    # curve between tier 1 (weak) and tier 3 (strong): gains 1, .5, 0, 0; gap .375
    c = rep.curve
    assert c.recovered == pytest.approx((0, 2 / 3, 1, 1, 1))
    assert c.apgr == pytest.approx(19 / 24)
    assert [c.cpt(x) for x in (0.5, 0.8, 0.95)] == pytest.approx([0.1875, 0.35, 0.4625])


def test_flags_and_actions_rank_by_decided_tier():
    rows = [EvalRow("1", "[cloud] easy", (0, 1), input_tokens=5), EvalRow("2", "hard", (0, 0), input_tokens=5)]
    rep = evaluate(rows, Settings(), TableEstimator({"easy": (1, 0.1), "hard": (2, 0.9)}))
    assert [r.tier for r in rep.routed] == [3, 2]
    assert rep.routed[0].score is None  # the flag decided; the estimator was not asked
    assert rep.curve.at(0.5) == pytest.approx(1.0)  # the flagged prompt is ranked first


def test_unrecoverable_file_still_reports_shares():
    rows = [EvalRow("1", "easy", (1, 1), input_tokens=5)]
    rep = evaluate(rows, Settings(), TableEstimator({"easy": (1, 0.1)}))
    assert rep.curve is None and "no gap" in rep.curve_error
    assert "no recovery curve" in format_report(rep)
    assert rep.to_json()["curve_error"]


def test_text_json_svg_and_terminal_plot():
    rep = evaluate(TINY, Settings(), TABLE)
    text = format_report(rep)
    for expected in ("tier 1  50.0%", "cloud share:   25.0%", "CPT(80%)", "APGR", "share of strong calls"):
        assert expected in text
    data = rep.to_json()
    assert data["curve"]["apgr"] == pytest.approx(19 / 24) and data["curve"]["cpt"]["50"] == pytest.approx(0.1875)
    root = ET.fromstring(render_svg(rep.curve, "a <title> & more", cloud_share=0.25))
    assert root.tag.endswith("svg")
    plot = terminal_plot(rep.curve).splitlines()
    assert len(plot) == 11 + 3 and all(len(r) <= 48 for r in plot[:11])


# ---- the command ------------------------------------------------------------------------------

def test_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYBRIDLSP_HOME", str(tmp_path))  # no user config of the machine's
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "eval.jsonl"
    f.write_text("\n".join(line(id=r.id, prompt=r.prompt, q=list(r.q), input_tokens=10) for r in TINY) + "\n")
    parser = argparse.ArgumentParser()
    add_eval_routing_parser(parser.add_subparsers())
    svg = tmp_path / "curve.svg"
    args = parser.parse_args(["eval-routing", str(f), "--difficulty", "learned", "--cloud-share", "0.25",
                              "--svg", str(svg), "--json"])
    assert args.fn(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prompts"] == 4 and sum(data["tier_shares"].values()) == pytest.approx(1)
    ET.parse(svg)


def test_no_estimator_gives_the_random_curve():
    # "none" ranks everything equal: exactly the random router's curve
    s = settings_from_mapping({"routing": {"difficulty": "none"}})
    rep = evaluate(TINY, s)
    assert rep.curve.apgr == pytest.approx(0.5) and rep.tier_shares[1] == 1.0
