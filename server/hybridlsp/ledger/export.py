"""JSON Lines export: one line per request, in the log shape of the design this server follows
({timestamp, tier, model, tokens, task_type, estimated_cost}) plus our own fields."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import IO, Iterable

from .records import Row

__all__ = ["export_jsonl"]


def export_jsonl(rows: Iterable[Row], fh: IO[str]) -> int:
    """Write one JSON object per request row to `fh`; return how many were written.

    `estimated_cost` includes the request's fallback hops, so the lines add up to the spend;
    it is null when any of those attempts has no known price.
    """
    rows = list(rows)
    hops: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.kind == "hop" and r.parent_id:
            hops[r.parent_id].append(r)
    written = 0
    for r in rows:
        if r.kind != "request":
            continue
        costs = [r.cost_usd] + [h.cost_usd for h in hops[r.id]]
        line = {
            "timestamp": r.ts,
            "tier": r.tier,
            "model": r.model,
            "tokens": r.input_tokens + r.output_tokens,
            "task_type": r.action,
            "estimated_cost": None if None in costs else sum(costs),
            "request_id": r.id,
            "backend": r.backend,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "latency_ms": r.latency_ms,
            "baseline_cost": r.baseline_cost_usd,
            "outcome": r.outcome,
            "hops": len(hops[r.id]),
        }
        fh.write(json.dumps(line) + "\n")
        written += 1
    return written
