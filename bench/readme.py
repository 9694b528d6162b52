"""The README's performance section, rewritten from bench/RESULTS.md (`python -m bench` runs it).

    .venv/bin/python -m bench.readme            # rewrite the section from RESULTS.md
    .venv/bin/python -m bench.readme --check    # exit 1 if the README and RESULTS.md disagree

Everything between the two markers is generated: the run's date, machine and commit, the summary
table and, for each missed goal, what limits it, all copied from RESULTS.md. Nothing in it is
typed by hand, so it cannot drift from the last run.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ._common import REPO

__all__ = ["BEGIN", "END", "README", "RESULTS", "current", "section", "update"]

README = REPO / "README.md"
RESULTS = REPO / "bench" / "RESULTS.md"
BEGIN = "<!-- bench:begin: generated from bench/RESULTS.md by `python -m bench.readme`; do not edit -->"
END = "<!-- bench:end -->"


def _part(results: str, heading: str) -> list[str]:
    """The lines under `## heading`, up to the next heading of that level, without blank edges."""
    lines = results.splitlines()
    try:
        start = lines.index(f"## {heading}") + 1
    except ValueError:
        return []
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    body = lines[start:end]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return body


def section(results: str) -> str:
    """The README's generated lines (markers included) for a RESULTS.md text."""
    measured = next((line for line in results.splitlines() if line.startswith("Measured ")), None)
    summary = _part(results, "Summary")
    if measured is None or not summary:
        raise ValueError("RESULTS.md has no 'Measured ...' line or no '## Summary' table: run `make bench`")
    took = re.search(r"This run took (\d+) s\. Each benchmark ran (\d+) times", results)
    how = (f"The run took {took[1]} s; each benchmark ran {took[2]} times, and a range is over those runs, "
           "judged on the worst." if took else "")
    out = [
        BEGIN,
        "",
        "Copied from [bench/RESULTS.md](bench/RESULTS.md), which `make bench` writes with every raw number. "
        + measured + (" " + how if how else ""),
        "The upstreams are tests/fakes' servers on 127.0.0.1; each floor and peer was measured in the same run.",
        "",
        *summary,
    ]
    missed = _part(results, "Goals missed, and what limits each")
    if missed:
        out += ["", "What limits each missed goal, as measured in that run:", "", *missed]
    out += ["", END]
    return "\n".join(out)


def current(readme: str) -> str:
    """The generated lines (markers included) as the README has them now."""
    try:
        start = readme.index(BEGIN)
        end = readme.index(END, start) + len(END)
    except ValueError:
        raise ValueError(f"README.md has no {BEGIN!r} ... {END!r} section") from None
    return readme[start:end]


def update(readme_path: Path = README, results_path: Path = RESULTS) -> bool:
    """Rewrite the README's section from RESULTS.md; True if it changed."""
    readme = readme_path.read_text(encoding="utf-8")
    old = current(readme)
    new = section(results_path.read_text(encoding="utf-8"))
    if old != new:
        readme_path.write_text(readme.replace(old, new), encoding="utf-8")
    return old != new


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 if they disagree")
    args = p.parse_args(argv)
    if args.check:
        same = current(README.read_text(encoding="utf-8")) == section(RESULTS.read_text(encoding="utf-8"))
        print("README.md agrees with bench/RESULTS.md" if same else
              "README.md's performance section differs from bench/RESULTS.md: run `python -m bench.readme`")
        return 0 if same else 1
    print("rewrote" if update() else "unchanged:", "README.md's performance section")
    return 0


if __name__ == "__main__":
    sys.exit(main())
