"""bench/_splice.py: one benchmark's fresh result in place of its old one in RESULTS.md, the rest kept."""

from bench._common import Figure, Result
from bench._splice import splice

OLD = """# Benchmark results

## Summary

| # | benchmark | measured in this run | goal | verdict |
|---:|---|---|---|---|
| 10 | ten | old ten | g | met |
| 11 | eleven | old eleven | g | met |
| 12 | twelve | old twelve | g | **MISSED** |

## Goals missed, and what limits each

- **[12] twelve** (goal g):
  - old reason

## Details

### 10. ten

ten's lines

### 11. eleven

old eleven's lines

### 12. twelve

old twelve's lines
"""


def result(number, value, limits=""):
    return Result(number, {11: "eleven", 12: "twelve"}[number], [Figure("x", value, "", ">=", 1.0)],
                  raw=["| a |", "new lines"], limits=limits)


def test_a_met_result_replaces_its_row_and_section_only():
    new = splice(OLD, result(11, 2.0), "escalation", "measured here")
    assert "| 11 | eleven | x 2.00 | x >= 1 | met |" in new
    assert "old eleven" not in new
    assert "ten's lines" in new and "old twelve's lines" in new and "- **[12] twelve** (goal g):" in new
    section = new[new.index("### 11. eleven"):new.index("### 12.")]
    assert "**x 2.00** - goal x >= 1: met (0 s; `python -m bench.escalation`; measured here)" in section
    assert "| a |\n\nnew lines" in section  # a text line after a table is kept out of it


def test_a_missed_result_replaces_its_reasons():
    new = splice(OLD, result(12, 0.5, "new reason"), "learning", "measured here")
    assert "old reason" not in new and "  - new reason" in new
    assert new.count("- **[12] twelve**") == 1
    assert new.rstrip().endswith("new lines")


def test_a_goal_newly_missed_goes_in_number_order_and_one_met_leaves_the_list():
    new = splice(OLD, result(11, 0.5, "why eleven"), "escalation", "here")
    assert new.index("- **[11] eleven**") < new.index("- **[12] twelve**")
    new = splice(new, result(12, 2.0), "learning", "here")
    assert "[12] twelve" not in new and "- **[11] eleven** (goal x >= 1):\n  - why eleven" in new
    new = splice(new, result(11, 2.0), "escalation", "here")
    assert "## Goals missed" not in new and "## Summary" in new and "## Details" in new
