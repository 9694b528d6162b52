"""The record stage: the one builder of the ledger rows a request writes, and their writing.

A request writes one request row (its last attempt: answered, failed, cancelled or a cache hit)
and one hop row per earlier attempt - fallbacks, and the calls that condensed its context
(reason `ledger.records.CONDENSE`). Rows are written off the event loop: another process can
hold the ledger's lock for a while.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from functools import partial
from typing import Callable

from ..backends.location import is_cloud
from ..ledger.prices import baseline_cost, cost_usd
from ..ledger.records import HopRecord, RequestRecord
from ..request import RunRequest
from ..routing.types import Hop
from .dispatch import Attempt

__all__ = ["Recorder", "Write"]

log = logging.getLogger(__name__)

Write = Callable[[], object]  # one ledger write, run off the loop


class _Group:
    """The rows of every request that finishes in one turn of the event loop, written in one
    worker-thread hop and one transaction (`Ledger.batch`), each request's rows a savepoint of it:
    a request's rows are written whole or not at all, and its own error goes back to it alone."""

    def __init__(self, ledger):
        self.ledger = ledger
        self._pending: list[tuple[list[Write], asyncio.Future]] = []

    def submit(self, writes: list[Write]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush, loop)  # after the other callbacks of this turn
        self._pending.append((writes, done))
        return done

    def _flush(self, loop) -> None:
        group, self._pending = self._pending, []
        work = loop.run_in_executor(None, self._write_all, [writes for writes, _ in group])
        work.add_done_callback(lambda f: self._settle(group, f))

    def _write_all(self, groups: list[list[Write]]) -> list[BaseException | None]:
        errors: list[BaseException | None] = []
        with self.ledger.batch():
            for writes in groups:
                try:
                    with self.ledger.batch():
                        _run_all(writes)
                    errors.append(None)
                except Exception as e:  # this request's rows are undone; the others' stay
                    errors.append(e)
        return errors

    @staticmethod
    def _settle(group, work: asyncio.Future) -> None:
        failed = work.exception() if not work.cancelled() else asyncio.CancelledError()
        errors = [failed] * len(group) if failed is not None else work.result()
        for (_, done), err in zip(group, errors):
            if done.done():  # its request was cancelled meanwhile: the rows are written regardless
                continue
            if err is None:
                done.set_result(None)
            else:
                done.set_exception(err)


class Recorder:
    """Prices attempts and builds every row from one template; `settings` is read at each call."""

    def __init__(self, ledger, settings_fn: Callable[[], object]):
        self.ledger = ledger
        self._settings = settings_fn
        self._group = _Group(ledger)
        self._unsettled: set[asyncio.Future] = set()  # cancelled requests' writes not yet landed

    # ---- prices ---------------------------------------------------------------------------
    def price(self, hop: Hop, inp: int, out: int, latency_ms: float) -> float | None:
        """None when the model has no known price: the ledger shows it as unpriced, never as free."""
        s = self._settings()
        hourly = s.tier(hop.tier).hourly_cost_usd if hop.tier else 0.0
        return cost_usd(hop.backend, hop.model, inp, out, latency_s=latency_ms / 1000, hourly_cost_usd=hourly,
                        overrides=s.ledger.price_overrides, local=not is_cloud(hop.backend, s, hop.model))

    def location(self, hop: Hop) -> str:
        """Where the hop's prompt went, for the ledger: cloud spend and budgets count only "cloud"."""
        return "cloud" if is_cloud(hop.backend, self._settings(), hop.model) else "local"

    def baseline(self, inp: int, out: int) -> float | None:
        return baseline_cost(self._settings(), inp, out)

    # ---- rows -----------------------------------------------------------------------------
    def _attempt(self, req: RunRequest, hop: Hop) -> dict:
        """What every row of `req` says: its action, and the hop the attempt went to."""
        return dict(action=req.action, tier=hop.tier, backend=hop.backend, model=hop.model,
                    location=self.location(hop))

    def request(self, req: RunRequest, request_id: str, hop: Hop, *, input_tokens: int, output_tokens: int,
                latency_ms: float, cost: float | None, baseline: float | None, outcome: str, **extra) -> Write:
        """The request row: its last attempt on `hop`, and what the request is (action, path)."""
        return partial(self.ledger.record_request, RequestRecord(
            **self._attempt(req, hop), input_tokens=input_tokens, output_tokens=output_tokens,
            latency_ms=latency_ms, cost_usd=cost, baseline_cost_usd=baseline, outcome=outcome,
            request_id=request_id, path=req.path, workspace=req.workspace, **extra,
        ))

    def hop(self, req: RunRequest, request_id: str, a: Attempt, reason: str | None = None) -> tuple[float, Write]:
        """(the attempt's cost, the write recording it as a hop of `request_id`)."""
        # billed: the upstream accepted it (input, and any output before a cut, are paid for); a
        # refused connection or an HTTP error before the answer began costs nothing
        billed = a.billed or a.output_tokens
        hop_cost = self.price(a.hop, a.input_tokens, a.output_tokens, a.latency_ms) if billed else 0.0
        return hop_cost or 0.0, partial(self.ledger.record_hop, HopRecord(
            parent_id=request_id, **self._attempt(req, a.hop), reason=reason or a.reason, cost_usd=hop_cost,
            input_tokens=a.input_tokens, output_tokens=a.output_tokens, tokens_counted=a.usage_counted,
            latency_ms=a.latency_ms, ttft_ms=a.ttft_ms, signal=a.signal,
        ))

    # ---- writing --------------------------------------------------------------------------
    async def write(self, writes: list[Write], notes: list[str]) -> None:
        """Write an answered request's rows. A ledger that stays locked or is damaged costs the
        rows, with a note and a log line, never the answer the user is waiting for."""
        try:
            await self._group.submit(writes)
        except sqlite3.Error as e:
            log.error("ledger %s: could not record the request: %s", getattr(self.ledger, "path", "?"), e)
            notes.append(f"not recorded in the ledger ({e}): its cost is missing from reports and budgets")

    async def write_failed(self, writes: list[Write]) -> None:
        """Write a failed request's rows: the user must see the backend's error, not a ledger one."""
        try:
            await asyncio.to_thread(_run_all, writes)
        except Exception:
            log.exception("could not record the failed request in the ledger")

    def write_cancelled(self, writes: list[Write]) -> asyncio.Future:
        """Write a cancelled request's rows in the worker thread of the other writes, without
        waiting: the task is being cancelled. A write on the loop would hold every other request
        up for as long as SQLite takes (a WAL checkpoint, or another process's write lock, up to
        the busy timeout). The future is done once the rows are in the ledger (or failed, logged)."""
        done = self._group.submit(writes)
        self._unsettled.add(done)
        done.add_done_callback(self._settled)
        return done

    def _settled(self, done: asyncio.Future) -> None:
        self._unsettled.discard(done)
        if not done.cancelled() and done.exception() is not None:  # never a cancel turned into an error
            log.error("could not record a cancelled request: %s", done.exception())

    async def settle(self) -> None:
        """Wait for the cancelled requests' rows still being written."""
        while self._unsettled:
            await asyncio.wait(set(self._unsettled))


def _run_all(writes: list[Write]) -> None:
    for w in writes:
        w()
