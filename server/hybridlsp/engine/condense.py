"""The condense stage: a context too big for its decided tier (a huge staged diff) is summarized
chunk by chunk on the local tiers first (map), and the summaries sent instead (combine).

Each summary is a call of its own: the engine dispatches it under the budget hold and records
its attempts as hops of the request (`ledger.records.CONDENSE`), then decides again on the
smaller input, through the same route stage.
"""

from __future__ import annotations

from ..actions.base import check_common
from ..backends.base import Message
from ..context.chunks import budget_diff
from ..routing import build_chain
from ..routing.types import Decision
from .dispatch import Call
from .prepare import Prepared, sent_text

__all__ = ["capacity", "calls", "combine", "CHUNK_TOKENS", "MAX_CHUNKS"]

CHUNK_TOKENS = 1500  # per map step; fits the embedded model too
MAX_CHUNKS = 8
SUMMARY_TOKENS = 120

_SYSTEM = "You summarize code changes. Output only the summary."
_ASK = "Summarize what this part of a diff changes, in at most 3 short lines.\n\n"


def capacity(decision: Decision, settings) -> int:
    """Input tokens the decided tier can take with room for its answer."""
    hop = decision.chain[0] if decision.chain else None
    if hop is None or hop.tier == 0:
        n_ctx, out = settings.embedded.n_ctx, settings.embedded.max_output_tokens
    else:
        ts = settings.tier(hop.tier)
        n_ctx, out = ts.num_ctx, ts.max_output_tokens
    return max(256, n_ctx - out - 256)


def _validate(text: str) -> str:
    return check_common("summary", text)


def calls(prepared: Prepared, decision: Decision, settings, *, cloud_available: bool,
          cloud_backends: frozenset[str], count_tokens) -> tuple[list[Call], list[str]]:
    """One summary call per chunk of the staged diff (on tiers 0-1, and 2 unless the request is
    private), and the files left for a plain list."""
    chunks = budget_diff(prepared.diff, CHUNK_TOKENS)[:MAX_CHUNKS]
    covered = "\n".join(chunks)
    left = [f.path for f in prepared.diff.files if not f.omitted_reason and f.path not in covered]
    chain = build_chain(1, settings, allow_cloud=cloud_available and not decision.private,
                        cloud_backends=cloud_backends)
    chain = tuple(h for h in chain if h.tier in (0, 1) or (h.tier == 2 and not decision.private))
    out = []
    for chunk in chunks:
        messages = (Message("system", _SYSTEM), Message("user", _ASK + chunk))
        out.append(Call(chain, messages, _validate, action_cap=SUMMARY_TOKENS,
                        input_tokens=count_tokens(sent_text(messages))))
    return out, left


def combine(prepared: Prepared, action, summaries: list[str], left: list[str]) -> Prepared:
    """`prepared` with the summaries in place of the diff, and a note saying so."""
    combined = "\n".join(f"- {s.strip()}" for s in summaries)
    if left:
        combined += "\n- also changed (not summarized): " + ", ".join(left[:30])
    ctx = action.with_summary(prepared.context, combined)
    messages = tuple(action.messages(ctx))
    note = f"staged diff condensed: {len(summaries)} chunk(s) summarized on tier 1, then combined"
    return Prepared(ctx, messages, prepared.git, prepared.notes + (note,), prepared.diff, sent=sent_text(messages))
