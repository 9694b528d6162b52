"""`hybridlsp tune`: propose, apply or revert moves of routing thresholds, from the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..config import data_dir, user_config_path
from ..ledger import Ledger
from ..tuning.online import state_path
from ..tuning.thresholds import (
    apply,
    backup_file,
    collect,
    current_values,
    format_evidence,
    last_applied,
    propose,
    revert,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="move routing thresholds within bounds from escalations, validator failures and 'bad' feedback",
        description="Propose (default), apply or revert moves of routing thresholds, from the ledger.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="show what would change and why (default)")
    mode.add_argument("--apply", action="store_true", help="write the moves to your user config file")
    mode.add_argument("--revert", action="store_true", help="restore the config file as it was before --apply")
    mode.add_argument("--reset", action="store_true",
                      help="forget what was learned from your outcomes (escalation.learn): routing is the "
                           "cold-start estimate again")
    p.add_argument("--force", action="store_true", help="with --revert: restore even if the file was edited since")
    p.add_argument("--since", help="ISO date; default: the last --apply, else the whole ledger")
    p.add_argument("--ledger", metavar="PATH", help="ledger file (default: the usual one)")
    p.set_defaults(fn=run)


def run(args) -> int:
    config = user_config_path()
    if args.reset:
        return reset(Path(args.ledger) if args.ledger else data_dir() / "ledger.sqlite3")
    if args.revert:
        print(revert(config, force=args.force))
        return 0
    since = datetime.fromisoformat(args.since) if args.since else last_applied(config)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    path = Path(args.ledger) if args.ledger else data_dir() / "ledger.sqlite3"
    evidence: dict = {}
    if path.is_file():  # a dry run creates nothing, not even an empty ledger
        with Ledger(path) as ledger:
            evidence = collect(ledger.rows(since), ledger.feedback(since))
    if not path.is_file():
        print(f"no ledger yet at {path}: nothing recorded to learn from")
    else:
        print(f"evidence from {path}{' since ' + since.isoformat() if since else ''}: "
              f"{sum(c.requests for c in evidence.values()):,} requests")
    if evidence:
        print(format_evidence(evidence))
    values = current_values(config)
    proposals = propose(evidence, values)
    print("\nproposed:" if any(p.moves for p in proposals) else "\nnothing to move:")
    for p in proposals:
        print(p.line())
    if values["difficulty"] != "learned":
        print(f"  (cloud_share_target steers only routing.difficulty = 'learned'; yours is '{values['difficulty']}')")
    if not args.apply:
        if any(p.moves for p in proposals):
            print(f"\ndry run: nothing written. tune --apply writes this to {config} (tune --revert undoes it)")
        return 0
    changes = apply(proposals, config)
    if changes:
        print(f"\nwrote {config}; the previous file is kept in {backup_file(config).name} (tune --revert)")
    return 0


def reset(ledger_path: Path) -> int:
    state = state_path(ledger_path)
    if state is None or not state.is_file():
        print(f"nothing to forget: no {state.name if state else 'learner state'} beside {ledger_path}")
        return 0
    state.unlink()
    print(f"forgot what was learned from your outcomes ({state}): routing is the cold-start estimate again")
    return 0
