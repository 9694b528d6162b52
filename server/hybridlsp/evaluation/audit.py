""""Categorize your last 100 API calls", from an export of them (`hybridlsp audit FILE`).

FILE is JSONL (one object a line) or CSV (a header row) with a `prompt` field and, optionally,
`input_tokens`, `output_tokens`, `model`, `provider`, `action` and `ts` (ISO 8601). Each prompt
is routed by the policy as configured (no model is called), then:

- the share of prompts per tier;
- the estimated monthly cost before (each call at its own model's price, or at
  `ledger.baseline_model` when the row names none) and after (tier-3 calls at the cloud tier's
  price; local tiers cost no money per token: their hardware is not counted here). Prices are
  genai-prices' bundled snapshot, or `ledger.price_overrides`. Missing input counts are counted
  with the tokenizer; missing output counts are assumed (`--output-tokens`). A month is 30 days:
  rows spanning at least a day of `ts` are scaled to it; otherwise the file is taken as one
  month of calls unless `--calls-per-month` says how many there are;
- the prompts closest to each tier boundary (the hardest of the lower tier and the easiest of
  the upper one, in the estimator's order), to review by eye.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, UTC

from ..backends.location import is_local
from ..context.tokens import count_tokens as _count_tokens
from ..ledger.prices import price_usd
from ..routing import ACTIONS
from .routing import EvalRow, Routed, rank_key, route_rows

__all__ = ["AuditRow", "AuditReport", "read_audit_rows", "audit", "format_audit", "DEFAULT_OUTPUT_TOKENS"]

DAYS_PER_MONTH = 30
DEFAULT_OUTPUT_TOKENS = 400


@dataclass(frozen=True)
class AuditRow:
    prompt: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    model: str = ""
    provider: str = ""
    action: str = "ask"
    ts: datetime | None = None


def _int_field(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if n < 0:
        raise ValueError(f"{name} must be >= 0, not {n}")
    return n


def _ts_field(value) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"ts must be an ISO 8601 time, not {value!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _row(obj: dict) -> AuditRow:
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError('needs a non-empty "prompt" (accepted fields: prompt, input_tokens, output_tokens, '
                         "model, provider, action, ts)")
    action = obj.get("action") or "ask"
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    return AuditRow(
        prompt=prompt,
        input_tokens=_int_field(obj.get("input_tokens"), "input_tokens"),
        output_tokens=_int_field(obj.get("output_tokens"), "output_tokens"),
        model=str(obj.get("model") or ""),
        provider=str(obj.get("provider") or ""),
        action=action,
        ts=_ts_field(obj.get("ts")),
    )


def read_audit_rows(text: str, source: str = "<input>") -> list[AuditRow]:
    """JSONL if the first non-blank character is '{', else CSV with a header row."""
    rows: list[AuditRow] = []
    if not text.strip():
        raise ValueError(f"{source}: no prompts")
    if text.lstrip().startswith("{"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("expected a JSON object")
                rows.append(_row(obj))
            except ValueError as e:
                raise ValueError(f"{source}:{n}: {e}") from None
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "prompt" not in reader.fieldnames:
            raise ValueError(f"{source}: expected JSONL, or CSV with a header row naming a 'prompt' column")
        for n, obj in enumerate(reader, 2):
            try:
                rows.append(_row(obj))
            except ValueError as e:
                raise ValueError(f"{source}:{n}: {e}") from None
    if not rows:
        raise ValueError(f"{source}: no prompts")
    return rows


@dataclass(frozen=True)
class AuditReport:
    n: int
    tier_counts: dict[int, int]
    calls_per_month: float
    month_basis: str
    before_usd: float  # per month, priced calls only
    after_usd: float
    unpriced_before: int  # calls with no known price (left out of the totals)
    unpriced_after: int
    unknown_models: tuple[str, ...]
    assumed_output: int  # calls whose output tokens were assumed
    baseline_rows: int  # calls priced at the baseline model because they named none
    after_model: str
    boundaries: dict[tuple[int, int], tuple[Routed, ...]]

    def to_json(self) -> dict:
        return {
            "prompts": self.n,
            "tier_shares": {str(t): c / self.n for t, c in self.tier_counts.items()},
            "calls_per_month": self.calls_per_month,
            "month_basis": self.month_basis,
            "monthly_usd_before": self.before_usd,
            "monthly_usd_after": self.after_usd,
            "unpriced_before": self.unpriced_before,
            "unpriced_after": self.unpriced_after,
            "unknown_models": list(self.unknown_models),
            "assumed_output_tokens": self.assumed_output,
            "priced_at_baseline": self.baseline_rows,
            "boundaries": {
                f"{lo}|{hi}": [{"tier": r.tier, "score": r.score, "prompt": r.row.prompt, "reason": r.reason}
                               for r in near]
                for (lo, hi), near in self.boundaries.items()
            },
        }


def _month(rows: Sequence[AuditRow], calls_per_month: float | None) -> tuple[float, str]:
    if calls_per_month is not None:
        return calls_per_month, f"{calls_per_month:,.0f} calls a month, as given"
    stamps = [r.ts for r in rows if r.ts is not None]
    if len(stamps) == len(rows) and len(rows) > 1:
        days = (max(stamps) - min(stamps)).total_seconds() / 86400
        if days >= 1:
            per_month = len(rows) * DAYS_PER_MONTH / days
            return per_month, f"{len(rows):,} calls over {days:.1f} days -> {per_month:,.0f} a month"
    return float(len(rows)), f"the file taken as one month ({len(rows):,} calls); --calls-per-month to change"


def _boundaries(routed: Sequence[Routed], per_side: int) -> dict[tuple[int, int], tuple[Routed, ...]]:
    ordered = sorted(routed, key=rank_key)
    out = {}
    for lo, hi in ((1, 2), (2, 3)):
        below = [r for r in ordered if r.tier == lo][-per_side:]
        above = [r for r in ordered if r.tier == hi][:per_side]
        if below or above:
            out[(lo, hi)] = tuple(below + above)
    return out


def audit(rows: Sequence[AuditRow], settings, *, estimator=None, count_tokens=None,
          output_tokens: int = DEFAULT_OUTPUT_TOKENS, calls_per_month: float | None = None,
          per_side: int = 3) -> AuditReport:
    count_tokens = count_tokens or _count_tokens
    inputs = [r.input_tokens if r.input_tokens is not None else count_tokens(r.prompt) for r in rows]
    # q is unused by routing; one value per tier keeps EvalRow's shape
    routed = route_rows(
        [EvalRow(str(i), r.prompt, (0.0, 0.0), r.action, n) for i, (r, n) in enumerate(zip(rows, inputs))],
        settings, estimator, count_tokens,
    )
    lg = settings.ledger
    before = after = 0.0
    unpriced_b = unpriced_a = assumed = at_baseline = 0
    unknown: set[str] = set()
    for r, n, dec in zip(rows, inputs, routed):
        out = r.output_tokens if r.output_tokens is not None else output_tokens
        assumed += r.output_tokens is None
        model, provider = r.model, r.provider or None
        if not model:
            model, provider = lg.baseline_model, lg.baseline_provider
            at_baseline += 1
        p = price_usd(model, provider, n, out, lg.price_overrides)
        if p is None:
            unpriced_b += 1
            unknown.add(model)
        else:
            before += p
        ts = settings.tier(dec.tier)
        if is_local(ts.backend):
            continue
        p = price_usd(ts.model, ts.backend, n, out, lg.price_overrides)
        if p is None:
            unpriced_a += 1
            unknown.add(ts.model)
        else:
            after += p
    per_month, basis = _month(rows, calls_per_month)
    scale = per_month / len(rows)
    counts = {t: sum(1 for d in routed if d.tier == t) for t in (1, 2, 3)}
    t3 = settings.tier(3)
    return AuditReport(
        n=len(rows), tier_counts=counts, calls_per_month=per_month, month_basis=basis,
        before_usd=before * scale, after_usd=after * scale, unpriced_before=unpriced_b, unpriced_after=unpriced_a,
        unknown_models=tuple(sorted(unknown)), assumed_output=assumed, baseline_rows=at_baseline,
        after_model=f"{t3.backend} {t3.model}", boundaries=_boundaries(routed, per_side),
    )


def _excerpt(text: str, width: int = 72) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def _usd(x: float) -> str:
    return f"${x:,.2f}" if abs(x) >= 1 else f"${x:.4f}"


def format_audit(rep: AuditReport) -> str:
    n = rep.n
    lines = [
        f"{n:,} prompts",
        "share per tier:  " + "   ".join(f"tier {t} {c / n:5.1%} ({c:,})" for t, c in rep.tier_counts.items()),
        "",
        f"estimated monthly cost ({rep.month_basis}):",
        f"  before  {_usd(rep.before_usd)}   each call at its own model"
        + (f" ({rep.baseline_rows:,} named none: priced as the baseline)" if rep.baseline_rows else ""),
        f"  after   {_usd(rep.after_usd)}   tier 3 on {rep.after_model}; "
        "local tiers $0 per token (hardware not counted)",
    ]
    if rep.before_usd > 0:
        saved = rep.before_usd - rep.after_usd
        lines.append(f"  saving  {_usd(saved)} a month ({saved / rep.before_usd:.0%})")
    if rep.assumed_output:
        lines.append(f"  {rep.assumed_output:,} calls had no output_tokens: assumed (--output-tokens)")
    if rep.unpriced_before or rep.unpriced_after:
        lines.append(f"  no known price for {', '.join(rep.unknown_models)} ({rep.unpriced_before:,} calls before, "
                     f"{rep.unpriced_after:,} after): left out; set ledger.price_overrides to include them")
    for (lo, hi), near in rep.boundaries.items():
        lines += ["", f"closest to the tier {lo} | tier {hi} boundary:"]
        for r in near:
            score = "  -  " if r.score is None else f"{r.score:.3f}"
            lines.append(f"  tier {r.tier}  {score}  {_excerpt(r.row.prompt)}")
    return "\n".join(lines)
