"""Issue #18 items 3 and 4 for `make eval-routing`: escalation signals, the cascade, the replay curve.

    .venv/bin/python training/eval_escalation.py [DATA_DIR]

Runs bench 11 (escalation driven by the answer) and bench 12 (learning from the user) on the
routing data (default ../shared/routing-data) and prints their tables as Markdown, as
bench/RESULTS.md and the README show them. The SmolLM2 probe is bounded (~5 min on 2 busy cores);
HYBRIDLSP_BENCH_PROBE_N=0 skips it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import escalation, learning  # noqa: E402


def main(argv: list[str]) -> int:
    for module in (escalation, learning):
        result = module.run(argv)
        print(f"### {result.number}. {result.title}\n")
        print(f"**{result.figure}** - goal {result.goal}: {result.verdict}\n")
        print("\n".join(result.raw))
        if result.limits:
            print("\nlimited by:\n" + "\n".join(f"- {p}" for p in result.limits.splitlines()))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
