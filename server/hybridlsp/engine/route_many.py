"""Many decisions at once, without calling a model: one prompt, or a JSONL file of them
(`hybridlsp route`, `route --jsonl`).

A JSONL file is routed in chunks, each step done for the whole chunk at once: one tiktoken pass per
prompt gives both its count and the token ids the learned estimate reads
(`context.tokens.counts_and_heads`), one secret prefilter runs over the chunk
(`context.secrets.contains_secret_many`), and the asks are estimated together
(`routing.estimate_many`: one Hyperscan pass for the keywords). An ask that the estimate alone
decides (`routing.estimate_only`) shares its decision with every other such ask of the same
estimated tier and secret flag, but for its first reason and token count: the policy runs once
for each of those few shapes, and each line is the shape's JSON with the three values filled in.

Tried and dropped: encoding the next chunk on a second thread while this one is decided gained
nothing at any GIL switch interval (between two short encodes the counting thread waits for the
GIL, which the deciding thread holds), and neither did splitting each chunk's count between two
threads (47 against 40 us a short prompt).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from ..context.secrets import contains_secret, contains_secret_many
from ..context.tokens import PARALLEL_FROM_CHARS, count_beside, counts_and_heads
from ..routing import ACTIONS, estimate_many, estimate_only, get_estimator
from ..routing.learned import HEAD_TOKENS
from ..routing.types import Decision
from .route import Router

__all__ = ["CHUNK", "decision_json", "route_jsonl", "route_one"]

CHUNK = 256  # prompts encoded and decided together; bounds memory for any file size
# chars: above this, one prompt's secret scan runs on the pool's thread beside its count. A hand-off
# to a running thread and back costs ~20 us: on an idle second core the scan beside the count is
# faster from ~2,000 characters of code (213 against 228 us; 377 against 453 at 4,000), not below.
# (A pool's first task also starts its thread, ~0.2 ms: once per `route` command.) With the other
# core busy the two threads share one and beside costs more than in turn: at 4,837 characters
# 1.4-1.6x the count against 1.2-1.3x (measured under another process's benchmark, and with
# `taskset -c 0`); there is no cheap way to know, so this is tuned for a free second core.
_BESIDE_FROM = 2_000
# the secret scan's CPU as a share of counting the same text's tokens, measured on 480 KB of each:
# 0.05 on questions, 0.13 on source code, 0.21 on code questions
_SCAN_SHARE = 0.13


_NO_ID = object()


def decision_json(d: Decision, rid=_NO_ID) -> dict:
    """The decision as `route --json` prints it; `rid` (any JSON value, null too) leads as "id"."""
    out = {"tier": d.tier, "backend": d.backend, "model": d.model, "reasons": list(d.reasons),
           "input_tokens": d.input_tokens, "private": d.private, "chain": [h.label for h in d.chain]}
    if d.notes:
        out["notes"] = list(d.notes)
    if rid is not _NO_ID:
        out = {"id": rid, **out}
    return out


def route_one(router: Router, prompt: str, action: str, pool: ThreadPoolExecutor | None = None) -> Decision:
    """Count, scan for secrets, decide. With `pool`, a prompt past `_BESIDE_FROM` characters is
    scanned beside its count."""
    if pool is not None and len(prompt) > PARALLEL_FROM_CHARS:
        # Past this size the count encodes on two threads, as `count_tokens` does: the scan runs on
        # one of them, which encodes that much less (35 against 43 ms at 100,000 tokens, when
        # the count went to the pool and split again there: three threads on two cores).
        tokens, head, secret = count_beside(prompt, HEAD_TOKENS, lambda: contains_secret(prompt), _SCAN_SHARE, pool)
    elif pool is not None and len(prompt) > _BESIDE_FROM:
        # The scan on the other thread, the count here: tiktoken lets go of the GIL for the whole
        # encode, so the scan runs meanwhile. (The other way round, the counting thread first waits
        # for the GIL the scan holds: 6.6 ms at 10,000 tokens against 3.3 ms.)
        scanning = pool.submit(contains_secret, prompt)
        (tokens,), (head,) = counts_and_heads([prompt], HEAD_TOKENS)
        secret = scanning.result()
    else:
        (tokens,), (head,) = counts_and_heads([prompt], HEAD_TOKENS)
        secret = contains_secret(prompt)
    return router.decide_prompt(action, prompt, tokens, secret, head)


def _parse(numbered: list[tuple[int, str | bytes]], warn: Callable[[str], None]) -> list[tuple[object, str, str]]:
    rows = []
    for n, line in numbered:
        if not line.strip():
            continue
        try:
            if isinstance(line, bytes):  # decoded line by line: one bad byte costs one line, not the file
                line = line.decode("utf-8")
            row = json.loads(line)
            prompt, action = row["prompt"], row.get("action", "ask")
            if not isinstance(prompt, str):
                raise TypeError(f"prompt must be a string, not {type(prompt).__name__}")
            if action not in ACTIONS:
                raise ValueError(f"unknown action {action!r}")
        except UnicodeDecodeError as e:
            warn(f"line {n}: skipped: not UTF-8 (byte 0x{line[e.start]:02x} at offset {e.start})")
            continue
        except (ValueError, KeyError, TypeError) as e:
            warn(f"line {n}: skipped: {e}")
            continue
        rows.append((row.get("id", n), prompt, action))
    return rows


def _chunks(lines: Iterable[str | bytes], size: int) -> Iterator[list[tuple[int, str | bytes]]]:
    numbered = enumerate(lines, 1)
    while chunk := list(islice(numbered, size)):
        yield chunk


class _Shape:
    """The JSON line of a decision but for its id, first reason and token count: the rest of the
    line written once, as `json.dumps(decision_json(d, rid))` writes it, so each line of the shape
    only adds those three values."""

    def __init__(self, d: Decision):
        self.reason = d.reasons[0]  # the first reason of the decision it was made from
        full = decision_json(d)
        head = {k: full[k] for k in ("tier", "backend", "model")}
        tail = {k: v for k, v in full.items() if k not in head and k not in ("reasons", "input_tokens")}
        more = json.dumps(list(d.reasons[1:]))[1:-1]
        self._before_reason = ", " + json.dumps(head)[1:-1] + ', "reasons": ['
        self._after_reason = (", " + more if more else "") + '], "input_tokens": '
        self._end = ", " + json.dumps(tail)[1:-1] + "}\n"

    def line(self, rid, reason: str, tokens: int) -> str:
        # what json.dumps writes for a str or an int, without its per-call set-up (~1 us each)
        rid_json = _str_json(rid) if type(rid) is str else str(rid) if type(rid) is int else json.dumps(rid)
        return f'{{"id": {rid_json}{self._before_reason}{_str_json(reason)}{self._after_reason}{tokens}{self._end}'


_NOT_ASK = object()
_str_json = json.encoder.encode_basestring_ascii  # json.dumps(s) for a str s (ensure_ascii, its default)


def route_jsonl(router: Router, lines: Iterable[str | bytes], write: Callable[[str], object],
                warn: Callable[[str], None], chunk: int = CHUNK) -> int:
    """Decide each `{"id"?, "prompt", "action"?}` line; write one JSON decision per line, in order.

    Lines may be bytes (a file opened in binary mode): each is decoded on its own. A bad line is
    reported through `warn` and skipped; the others are still decided. Returns the number of
    decisions written.
    """
    settings = router.settings
    estimator = router.estimator if router.estimator is not None else get_estimator(settings)
    shapes: dict[tuple[int | None, bool], _Shape | None] = {}  # (estimated tier, secret) -> shape
    done = 0
    for numbered in _chunks(lines, chunk):
        rows = _parse(numbered, warn)
        prompts = [p for _, p, _ in rows]
        counts, heads = counts_and_heads(prompts, HEAD_TOKENS)
        secrets = contains_secret_many(prompts)
        asks = [i for i, ((_, prompt, action), tokens) in enumerate(zip(rows, counts))
                if estimate_only(action, prompt, tokens, settings)]
        estimated = estimate_many(estimator, [prompts[i] for i in asks], "ask", [heads[i] for i in asks])
        estimates = dict(zip(asks, estimated))
        out = []
        for i, ((rid, prompt, action), tokens, head, secret) in enumerate(zip(rows, counts, heads, secrets)):
            est = estimates.get(i, _NOT_ASK)
            key = None
            if est is not _NOT_ASK:
                key = (None if est is None else est.tier, secret)
                shape = shapes.get(key)
                if shape is not None:
                    out.append(shape.line(rid, shape.reason if est is None else est.reason, tokens))
                    continue
            d = router.decide_prompt(action, prompt, tokens, secret, head)
            if key is not None and key not in shapes:
                # only if the policy's first reason is the estimate's, as `estimate_only` promises
                shapes[key] = _Shape(d) if est is None or d.reasons[0] == est.reason else None
            out.append(json.dumps(decision_json(d, rid)) + "\n")
        if out:
            write("".join(out))
            done += len(out)
    return done
