"""Put one benchmark's fresh result into bench/RESULTS.md without rerunning the others.

`make eval-routing` measures benchmarks 11 and 12 on the routing data; this writes what it measured
where a full `make bench` would have: the benchmark's row of the summary, its entry under the goals
missed, and its section of the details, each in the form `bench/__main__.render` gives them, with
a note that says when and where this one was measured.
"""

from __future__ import annotations

import importlib

from ._common import Result

__all__ = ["splice"]


def _summary_row(r: Result) -> str:
    return f"| {r.number} | {r.title} | {r.figure} | {r.goal} | {'**MISSED**' if r.met is False else r.verdict} |"


def _missed_lines(r: Result) -> list[str]:
    if not (r.met is False or (r.met is None and r.limits)):
        return []
    return [f"- **[{r.number}] {r.title}** (goal {r.goal}):", *(f"  - {p}" for p in r.limits.splitlines())]


def _details(r: Result, module: str, note: str) -> list[str]:
    from .__main__ import _blank_after_tables

    doc = (importlib.import_module(f"bench.{module}").__doc__ or "").strip().split("\n", 1)
    out = [f"### {r.number}. {r.title}", ""]
    if len(doc) > 1:
        out += [doc[1].strip(), ""]
    out += [f"**{r.figure}** - goal {r.goal}: {r.verdict} ({r.seconds:.0f} s; `python -m bench.{module}`; {note})", ""]
    return out + _blank_after_tables(r.raw) + [""]


def _replace_missed(lines: list[str], r: Result) -> list[str]:
    """Drop the result's old bullet (and its sub-bullets), insert the new one in number order."""
    head = "## Goals missed, and what limits each"
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith(f"- **[{r.number}] "):
            i += 1
            while i < len(lines) and lines[i].startswith("  - "):
                i += 1
            continue
        out.append(lines[i])
        i += 1
    new = _missed_lines(r)
    if not new:
        if head in out:  # no bullet left: no heading either, as `render` writes it
            start = out.index(head)
            end = next((j for j in range(start + 1, len(out)) if out[j].startswith("## ")), len(out))
            if not any(ln.startswith("- **[") for ln in out[start:end]):
                del out[start:end]
        return out
    if head not in out:
        at = out.index("## Summary")
        end = next(j for j in range(at + 1, len(out)) if out[j].startswith("## "))
        out[end:end] = [head, "", ""]
    start = out.index(head) + 2
    end = next((j for j in range(start, len(out)) if out[j].startswith("## ")), len(out))
    at = next((j for j in range(start, end) if out[j].startswith("- **[") and
               int(out[j][5:out[j].index("]")]) > r.number), None)
    if at is None:  # after the last bullet of the list
        at = end
        while at > start and not out[at - 1].strip():
            at -= 1
    out[at:at] = new
    return out


def splice(text: str, result: Result, module: str, note: str) -> str:
    """RESULTS.md `text` with `result` (benchmark `module`) in place of what it held for it."""
    lines = text.split("\n")
    row = next((i for i, ln in enumerate(lines) if ln.startswith(f"| {result.number} | ")), None)
    if row is None:
        raise ValueError(f"bench/RESULTS.md has no summary row for benchmark {result.number}: run `make bench`")
    lines[row] = _summary_row(result)
    lines = _replace_missed(lines, result)
    heading = f"### {result.number}. "
    start = next((i for i, ln in enumerate(lines) if ln.startswith(heading)), None)
    new = _details(result, module, note)
    if start is None:
        raise ValueError(f"bench/RESULTS.md has no section '{heading}...': run `make bench`")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("### ", "## "))), len(lines))
    lines[start:end] = new
    return "\n".join(lines).rstrip() + "\n"
