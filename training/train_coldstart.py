"""Train the cold-start difficulty estimate and write the weights the package ships.

    .venv/bin/python training/train_coldstart.py [DATA_DIR] [--out FILE] [--check]

Fitted (training/coldstart_fit.py) on the licence-clear sources of DATA_DIR (training/sources.py:
RouteLLM's MT-Bench, GSM8K and MMLU, Apache-2.0; CRUXEval, HumanEval+ and InterCode bash, MIT),
written to server/hybridlsp/routing/data/coldstart.json. --check trains and compares with the
shipped file, byte for byte (exit status 1 if they differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from coldstart_fit import fit  # noqa: E402
from sources import load_sources, training_sources  # noqa: E402

from hybridlsp.routing.coldstart import COLDSTART_PATH  # noqa: E402


def train(data_dir: Path) -> bytes:
    by = load_sources(data_dir)
    model = fit(by, training_sources(None))
    model["about"] = ("hybridlsp cold-start difficulty: ridge on prompt features, fitted within each source; "
                      "made by training/train_coldstart.py from licence-clear sources (Apache-2.0, MIT)")
    model["rows"] = {s: len(by[s]) for s in model["trained_on"]}
    return (json.dumps(model, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "routing-data"))
    p.add_argument("--out", default=str(COLDSTART_PATH))
    p.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = p.parse_args(argv)
    blob = train(Path(args.data_dir))
    out = Path(args.out)
    print(f"{len(blob):,} bytes, sha256 {hashlib.sha256(blob).hexdigest()}", file=sys.stderr)
    if args.check:
        same = out.is_file() and out.read_bytes() == blob
        print(f"{out}: {'identical' if same else 'DIFFERS from a fresh training run'}", file=sys.stderr)
        return 0 if same else 1
    out.write_bytes(blob)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
