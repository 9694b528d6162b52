"""The README's performance section is the one `make bench` generated from bench/RESULTS.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import readme

RESULTS = """# Benchmark results

Measured 2026-12-03 09:20 UTC on AMD EPYC (2 cores, 24 GiB), Python 3.11.7, Linux; commit abc1234.
Reproduce: `make bench`. This run took 300 s. Each benchmark ran 3 times unless its details say otherwise.

## Summary

| # | benchmark | measured in this run | goal | verdict |
|---:|---|---|---|---|
| 5 | Cancellation | max 41.00-72.00 ms; p50 0.77-0.80 ms | max < 50 ms | **MISSED** |
| 4 | codeAction | round trip p99 1.91-2.10 ms | round trip p99 < 10 ms | met |

## Goals missed, and what limits each

- **[5] Cancellation** (goal max < 50 ms):
  - a round of 72.0 ms: its threads waited 66.1 ms for a CPU

## Details

### 5. Cancellation
"""


def test_the_readme_agrees_with_results_md():
    text = readme.README.read_text(encoding="utf-8")
    assert readme.current(text) == readme.section(readme.RESULTS.read_text(encoding="utf-8")), (
        "README.md's performance section is not bench/RESULTS.md's: run `python -m bench.readme`")


def test_the_section_carries_every_row_and_every_miss():
    out = readme.section(RESULTS)
    assert out.startswith(readme.BEGIN) and out.endswith(readme.END)
    assert "Measured 2026-12-03 09:20 UTC on AMD EPYC" in out and "commit abc1234" in out
    assert "each benchmark ran 3 times" in out
    assert "| 5 | Cancellation | max 41.00-72.00 ms; p50 0.77-0.80 ms | max < 50 ms | **MISSED** |" in out
    assert "| 4 | codeAction | round trip p99 1.91-2.10 ms | round trip p99 < 10 ms | met |" in out
    assert "its threads waited 66.1 ms for a CPU" in out
    assert "### 5." not in out  # the details stay in RESULTS.md


def test_update_rewrites_only_the_marked_section(tmp_path: Path):
    md = tmp_path / "README.md"
    res = tmp_path / "RESULTS.md"
    res.write_text(RESULTS)
    md.write_text(f"# hybridlsp\n\nbefore\n\n{readme.BEGIN}\n| 5 | typed by hand | met |\n{readme.END}\n\nafter\n")
    assert readme.update(md, res) is True
    text = md.read_text()
    assert text.startswith("# hybridlsp\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "typed by hand" not in text and "**MISSED**" in text
    assert readme.update(md, res) is False  # a second run changes nothing


def test_a_readme_without_markers_or_results_without_a_summary_is_an_error():
    with pytest.raises(ValueError, match="bench:begin"):
        readme.current("# no markers here\n")
    with pytest.raises(ValueError, match="Summary"):
        readme.section("# Benchmark results\n\nnothing measured\n")
