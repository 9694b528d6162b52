"""Moving routing thresholds, within bounds, from what the ledger recorded (`hybridlsp tune`).

Evidence, per action, size bucket and decided tier (the first attempt's tier), from request rows
(cache hits and cancelled requests left out). A request had a problem when

- it escalated: an attempt fell back because its answer failed the validator ("invalid-answer")
  or an answer signal said it was likely wrong ("low-confidence", actions/signals.py);
- or its validator failed: even the last answer failed it (best effort);
- or someone marked it "bad" (`feedback` table).

Each knob has a cheap side: the requests it kept on the cheaper tier. A token threshold only
looks at its action's cheap-side requests in the size bucket that holds the threshold and the
bucket below it (those a move would re-route); `cloud_share_target` at every ask kept local.

- problem rate >= 15 % over >= 20 requests: one step toward the stronger tier;
- problem rate <= 3 % over >= 20 requests: one step toward the cheaper tier;
- otherwise, or when the value was set by hand outside the bounds: left alone.

    knob                         default   bounds         step   cheap side
    routing.explain_tier2_tokens    1500   750 .. 2250     375   explain kept on tier 1
    routing.commit_tier2_tokens     1500   750 .. 2250     375   commit-message kept on tier 1
    routing.review_cloud_tokens     6000   3000 .. 9000   1500   review kept on tier 2
    routing.cloud_share_target       0.2   0.1 .. 0.3     0.05   ask kept on tier 1 or 2

(bounds: the default +- 50 %; step: 25 % of the default). Evidence counts from the last
`--apply` on, so one bad week moves a knob one step, not one step per run.

`--apply` writes the moves to the user's config file (HYBRIDLSP_HOME/config.toml when set, else
the platform's config dir: the file `load_settings` reads), editing only those keys, and keeps
the previous file beside it; `--revert` puts it back.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..config import RoutingSettings, settings_from_mapping
from ..errors import HybridError
from ..ledger.records import is_fallback, size_bucket

__all__ = [
    "KNOBS",
    "Knob",
    "Counts",
    "Proposal",
    "collect",
    "propose",
    "backup_file",
    "set_routing_values",
    "apply",
    "revert",
    "last_applied",
    "current_values",
    "format_evidence",
]

HIGH = 0.15
LOW = 0.03
MIN_REQUESTS = 20
_BUCKET_ORDER = ("xs", "s", "m", "l", "xl")


@dataclass(frozen=True)
class Knob:
    key: str  # under [routing]
    action: str
    cheap_tiers: tuple[int, ...]
    default: float
    tokens: bool  # a token threshold (else cloud_share_target)

    # rounded, so 0.2 * 1.5 is the 0.3 a person would write
    @property
    def low(self) -> float:
        return round(self.default * 0.5, 4)

    @property
    def high(self) -> float:
        return round(self.default * 1.5, 4)

    @property
    def step(self) -> float:
        return round(self.default * 0.25, 4)

    def stronger(self, value: float) -> float:
        """One step toward the stronger tier: a lower token threshold, a higher cloud share."""
        return max(self.low, value - self.step) if self.tokens else min(self.high, round(value + self.step, 4))

    def cheaper(self, value: float) -> float:
        return min(self.high, value + self.step) if self.tokens else max(self.low, round(value - self.step, 4))


def _knobs() -> tuple[Knob, ...]:
    d = RoutingSettings()
    return (
        Knob("explain_tier2_tokens", "explain", (1,), d.explain_tier2_tokens, True),
        Knob("commit_tier2_tokens", "commit-message", (1,), d.commit_tier2_tokens, True),
        Knob("review_cloud_tokens", "review", (2,), d.review_cloud_tokens, True),
        Knob("cloud_share_target", "ask", (1, 2), d.cloud_share_target, False),
    )


KNOBS = _knobs()


# ---- evidence -------------------------------------------------------------------------------

@dataclass
class Counts:
    requests: int = 0
    escalated: int = 0
    validator_failed: int = 0
    bad: int = 0
    problems: int = 0

    def add(self, other: Counts) -> None:
        for f in ("requests", "escalated", "validator_failed", "bad", "problems"):
            setattr(self, f, getattr(self, f) + getattr(other, f))

    @property
    def rate(self) -> float:
        return self.problems / self.requests if self.requests else 0.0


def collect(rows: Iterable, feedback: Iterable) -> dict[tuple[str, str, int], Counts]:
    """(action, size bucket, decided tier) -> counts, from ledger rows and feedback."""
    rows = list(rows)
    bad = {f.request_id for f in feedback if f.verdict == "bad"}
    first_hop: dict[str, tuple[int, int]] = {}  # request id -> (hop number, tier) of its first attempt
    escalated: set[str] = set()
    for r in rows:
        if not is_fallback(r) or not r.parent_id:
            continue
        if r.parent_id not in first_hop or r.hop < first_hop[r.parent_id][0]:
            first_hop[r.parent_id] = (r.hop, r.tier)
        if r.reason in ("invalid-answer", "low-confidence"):
            escalated.add(r.parent_id)
    out: dict[tuple[str, str, int], Counts] = {}
    for r in rows:
        if r.kind != "request" or r.outcome in ("cache-hit", "cancelled"):
            continue
        tier = first_hop[r.id][1] if r.id in first_hop else r.tier
        c = out.setdefault((r.action, r.size_bucket, tier), Counts())
        e, v, b = r.id in escalated, r.validator == "fail", r.id in bad
        c.requests += 1
        c.escalated += e
        c.validator_failed += v
        c.bad += b
        c.problems += e or v or b
    return out


def _buckets_near(threshold: float) -> tuple[str, ...]:
    i = _BUCKET_ORDER.index(size_bucket(int(threshold)))
    return _BUCKET_ORDER[max(0, i - 1): i + 1]


def _fmt(knob: Knob, v: float) -> str:
    return f"{int(v):,}" if knob.tokens else f"{v:g}"


@dataclass(frozen=True)
class Proposal:
    knob: Knob
    current: float
    new: float
    evidence: Counts
    why: str

    @property
    def moves(self) -> bool:
        return self.new != self.current

    def line(self) -> str:
        k = self.knob
        change = f"{_fmt(k, self.current)} -> {_fmt(k, self.new)}" if self.moves else f"{_fmt(k, self.current)} (kept)"
        return f"  routing.{k.key:22} {change:18} {self.why}"


def propose(evidence: dict[tuple[str, str, int], Counts], current: dict[str, float],
            knobs: Sequence[Knob] = KNOBS) -> list[Proposal]:
    out = []
    for k in knobs:
        value = current[k.key]
        c = Counts()
        buckets = _buckets_near(value) if k.tokens else None
        for (action, bucket, tier), counts in evidence.items():
            if action == k.action and tier in k.cheap_tiers and (buckets is None or bucket in buckets):
                c.add(counts)
        tiers = "/".join(map(str, k.cheap_tiers))
        where = f"{k.action} kept on tier {tiers}" + (f", sizes {'-'.join(buckets)}" if buckets else "")
        seen = f"{where}: {c.problems} of {c.requests} had a problem"
        if not k.low <= value <= k.high:
            out.append(Proposal(k, value, value, c, f"set outside tune's bounds {_fmt(k, k.low)}..{_fmt(k, k.high)}: "
                                                    "left as you set it"))
        elif c.requests < MIN_REQUESTS:
            why = f"{where}: {c.requests} requests, too few (< {MIN_REQUESTS}) to move"
            out.append(Proposal(k, value, value, c, why))
        elif c.rate >= HIGH:
            new = k.stronger(value)
            why = f"{seen} ({c.rate:.0%} >= {HIGH:.0%}): send more up"
            out.append(Proposal(k, value, new, c, why if new != value else why + ", but at its bound"))
        elif c.rate <= LOW:
            new = k.cheaper(value)
            why = f"{seen} ({c.rate:.0%} <= {LOW:.0%}): keep more local"
            out.append(Proposal(k, value, new, c, why if new != value else why + ", but at its bound"))
        else:
            out.append(Proposal(k, value, value, c, f"{seen} ({c.rate:.0%}): within {LOW:.0%}..{HIGH:.0%}"))
    return out


# ---- the user's config file (`config.user_config_path`) ---------------------------------------

def backup_file(config: Path) -> Path:
    return config.with_name(config.name + ".tune-backup.json")


_TABLE_RE = re.compile(r"^\s*\[")
_ROUTING_RE = re.compile(r"^\s*\[\s*routing\s*\]\s*(#.*)?$")


def _toml_value(v: float | int) -> str:
    return str(v) if isinstance(v, int) else repr(float(v))


def set_routing_values(text: str, values: dict[str, int | float]) -> str:
    """`text` with `[routing]` keys set to `values`, every other line kept as written.

    Checked by parsing: if the file sets those keys some other way (dotted keys, an inline
    table), this refuses rather than guess, and says what to write by hand.
    """
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if _ROUTING_RE.match(ln)), None)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append("[routing]")
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if _TABLE_RE.match(lines[i])), len(lines))
    for key, v in values.items():
        assign = f"{key} = {_toml_value(v)}"
        key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
        at = next((i for i in range(start + 1, end) if key_re.match(lines[i])), None)
        if at is not None:
            lines[at] = assign
        else:
            last = end
            while last - 1 > start and not lines[last - 1].strip():
                last -= 1
            lines.insert(last, assign)
            end += 1
    new = "\n".join(lines) + "\n"
    hand = ", ".join(f"{k} = {_toml_value(v)}" for k, v in values.items())
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise HybridError(f"the config file is not valid TOML ({e}); fix it, or set under [routing]: {hand}") from None
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        after = None
    expect = dict(before)
    expect["routing"] = {**before.get("routing", {}), **values}
    if after != expect:
        raise HybridError(f"could not edit [routing] safely in this file; set by hand under [routing]: {hand}")
    return new


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def apply(proposals: Sequence[Proposal], config: Path, now: datetime | None = None) -> dict[str, float]:
    """Write the moves to `config`, keeping the previous file in `backup_file(config)`."""
    changes = {p.knob.key: (int(p.new) if p.knob.tokens else p.new) for p in proposals if p.moves}
    existed = config.is_file()
    old = config.read_text(encoding="utf-8") if existed else ""
    if not changes:
        return {}
    new = set_routing_values(old, changes)
    settings_from_mapping(tomllib.loads(new), str(config))  # never write a file the server would refuse
    config.parent.mkdir(parents=True, exist_ok=True)
    backup = {
        "config": str(config),
        "existed": existed,
        "text": old,
        "applied_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "changes": {k: [p.current, changes[k]] for p in proposals if (k := p.knob.key) in changes},
        "written_sha256": _sha(new.encode("utf-8")),
    }
    backup_file(config).write_text(json.dumps(backup, indent=1) + "\n", encoding="utf-8")
    config.write_text(new, encoding="utf-8")
    return changes


def revert(config: Path, force: bool = False) -> str:
    """Put back the file as it was before the last `apply`; return what was done."""
    bfile = backup_file(config)
    if not bfile.is_file():
        raise HybridError(f"nothing to revert: no {bfile.name} beside {config} (tune --apply was not run, "
                          "or was already reverted)")
    backup = json.loads(bfile.read_text(encoding="utf-8"))
    current = config.read_bytes() if config.is_file() else b""
    if _sha(current) != backup["written_sha256"] and not force:
        raise HybridError(f"{config} changed since tune --apply on {backup['applied_at']}; reverting would lose "
                          "those edits: run tune --revert --force to restore it anyway")
    if backup["existed"]:
        config.write_text(backup["text"], encoding="utf-8")
        done = f"restored {config} as it was before {backup['applied_at']}"
    else:
        config.unlink(missing_ok=True)
        done = f"removed {config}: there was none before {backup['applied_at']}"
    bfile.unlink()
    return done


def last_applied(config: Path) -> datetime | None:
    bfile = backup_file(config)
    if not bfile.is_file():
        return None
    return datetime.fromisoformat(json.loads(bfile.read_text(encoding="utf-8"))["applied_at"])


def current_values(config: Path) -> dict[str, float]:
    """The knobs as the user's file sets them over the defaults (what --apply would edit)."""
    data = tomllib.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
    r = settings_from_mapping(data, str(config)).routing
    return {**{k.key: getattr(r, k.key) for k in KNOBS}, "difficulty": r.difficulty}


def format_evidence(evidence: dict[tuple[str, str, int], Counts]) -> str:
    lines = [f"{'action':16}{'size':>5}{'tier':>5}{'requests':>10}{'escalated':>11}{'validator':>11}{'bad':>6}"
             f"{'problems':>10}"]
    order = {b: i for i, b in enumerate(_BUCKET_ORDER)}

    def key(item):
        (action, bucket, tier), _ = item
        return action, order.get(bucket, 9), tier

    for (action, bucket, tier), c in sorted(evidence.items(), key=key):
        lines.append(f"{action:16}{bucket:>5}{tier:>5}{c.requests:>10,}{c.escalated:>11,}{c.validator_failed:>11,}"
                     f"{c.bad:>6,}{c.rate:>10.0%}")
    return "\n".join(lines)
