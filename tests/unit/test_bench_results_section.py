"""`make bench` rewrites bench/RESULTS.md but keeps the section `make eval-routing` wrote."""

import pytest

from bench.__main__ import kept_section

SECTION = "## Routing quality, leave one source out (`make eval-routing`)\n\ntext\n| a | b |\n"


@pytest.mark.parametrize("text, expected", [
    ("# Benchmark results\n\n" + SECTION + "\n## Details\n\n### 1.", SECTION.rstrip("\n").split("\n") + [""]),
    ("# Benchmark results\n\n## Summary\n\n## Details\n", []),  # none written yet
    ("", []),
    ("# Benchmark results\n\n" + SECTION, []),  # cut off before the next heading: not kept half-way
])
def test_kept_section(text, expected):
    assert kept_section(text) == expected
