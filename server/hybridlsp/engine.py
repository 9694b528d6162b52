"""One request end to end, LSP-free: context -> policy -> dispatch -> ledger.

`Router` only decides: settings and the credential check, no model, no ledger (`hybridlsp route`).
`Engine` extends it: `Engine.preview` is the cheap decision a code-action title shows (no model,
no git); `Engine.run` does the whole job, streaming text to a callback, and is cancellable end to end.

This module imports only what a decision needs; what calls a model (asyncio, dispatch, backends,
actions, the answer cache, the budget guard) is imported where `Engine` uses it: `hybridlsp route`
paid 50-85 ms for those imports, more than deciding 2,000 short prompts takes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from functools import partial
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Awaitable, Callable

from .errors import AllTiersFailed, HybridError
from .routing import RouteRequest, decide, parse_flag
from .routing.types import CLOUD_BACKENDS, Decision, GitSummary, Hop

if TYPE_CHECKING:
    from .answers import AnswerStore
    from .dispatch import Attempt, DispatchResult

__all__ = ["RunRequest", "RunResult", "UsageReport", "Fallback", "Finding", "Router", "Engine", "workspace_of",
           "HybridError"]

log = logging.getLogger(__name__)

# Off the event loop above this many characters: tiktoken and the secret scan are CPU-bound.
_OFFLOAD_CHARS = 20_000

# Lone UTF-16 surrogates: an editor may send them (a JSON "\udc80" escape), and Python makes them of
# undecodable bytes on stdin and in file names. No backend, and no ledger hash, can encode them.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _encodable(req: "RunRequest") -> "RunRequest":
    """`req` with every lone surrogate replaced by U+FFFD."""
    fields = {}
    for name in ("text", "document", "prompt", "path", "workspace"):
        value = getattr(req, name)
        if value and _SURROGATE_RE.search(value):
            fields[name] = _SURROGATE_RE.sub("\ufffd", value)
    return replace(req, **fields) if fields else req


@dataclass(frozen=True)
class RunRequest:
    action: str  # complete | explain | review | commit-message | ask
    text: str = ""  # the selection (or enclosing function), or the prompt for `ask`
    path: str = ""  # file path on disk ("" for none)
    document: str | None = None  # the whole document, for surrounding context
    start_line: int = 0  # 0-based line of `text` in `document`
    end_line: int = 0
    end_char: int | None = None  # where `text` ends on end_line; None: at the end of that line
    language: str = ""
    prompt: str = ""  # an extra instruction from the user (may start with a tier flag)
    tier: int | None = None  # explicit per-request tier
    workspace: str = ""  # repository / workspace root, for git context
    local_only: bool = False  # never the cloud, not even as a fallback (inline completion)


@dataclass(frozen=True)
class UsageReport:
    input_tokens: int
    output_tokens: int
    cost_usd: float
    baseline_cost_usd: float


@dataclass(frozen=True)
class Fallback:
    from_: str
    to: str
    reason: str


@dataclass(frozen=True)
class Finding:
    """A review finding; lines are 0-based lines of the document."""

    line: int
    end_line: int
    severity: str  # error | warning | info | hint
    message: str
    fix: str | None = None  # replacement text for lines line..end_line, when the model proposed one


@dataclass
class RunResult:
    text: str
    decision: Decision
    usage: UsageReport
    fallbacks: list[Fallback]
    request_id: str
    backend: str  # what actually answered
    model: str
    tier: int  # the tier that answered (0 = embedded)
    latency_ms: float
    ttft_ms: float | None
    cached: bool = False
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    budget: object | None = None  # budget.BudgetStatus after this request


def workspace_of(path: str) -> Path | None:
    p = Path(path).resolve() if path else None
    while p is not None and p != p.parent:
        if (p / ".git").exists():
            return p
        p = p.parent
    return None


def _review_view(validated: str) -> tuple[str, list[Finding]]:
    """A validated review answer (JSON) as the Markdown shown and the findings for diagnostics."""
    from .actions import review

    raw = json.loads(validated)["findings"]
    return review.render(raw), [Finding(**f) for f in raw]


async def _in_thread(fn, *args):
    """`asyncio.to_thread`, importing asyncio only once a coroutine runs: a decision never does."""
    import asyncio

    return await asyncio.to_thread(fn, *args)


class Router:
    """Decides where a request goes from the settings and which API keys are set: no model, no
    ledger, no files written. `Engine` extends it."""

    def __init__(self, settings, *, env: dict | None = None):
        from .context.tokens import count_tokens

        self.env = dict(os.environ) if env is None else env
        self.settings = settings
        self.count_tokens = count_tokens

    def cloud_available(self) -> bool:
        from .backends.registry import credentials_present

        t3 = self.settings.tier(3).backend
        return t3 not in CLOUD_BACKENDS or credentials_present(t3, self.settings, self.env)

    def _route(self, req: RunRequest, input_tokens: int, git: GitSummary, secret: bool,
               spend: tuple[float, float] = (0.0, 0.0), head: Sequence[int] | None = None) -> Decision:
        """`head`: the routed text's first token ids, if the caller has encoded it (`routemany`)."""
        routed_text = req.prompt or req.text
        return decide(
            RouteRequest(
                action=req.action, text=routed_text, input_tokens=input_tokens, path=req.path,
                language=req.language, git=git, tier_override=req.tier, contains_secret=secret,
                month_cloud_spend_usd=spend[0], day_cloud_spend_usd=spend[1],
                cloud_available=self.cloud_available(), local_only=req.local_only, head_tokens=head,
            ),
            self.settings,
        )

    def preview(self, req: RunRequest) -> Decision:
        """Fast, synchronous, no model and no git: the decision a code action title shows.
        (The secret gate runs in `run`; a preview may show cloud for text that `run` keeps local.)"""
        text = req.text if len(req.text) < 200_000 else req.text[:200_000]
        tokens = self.count_tokens(text) + (self.count_tokens(req.prompt) if req.prompt else 0)
        return self._route(req, tokens, GitSummary(), False)


class Engine(Router):
    """Owns settings, backends and the ledger for one process."""

    def __init__(self, settings, *, ledger=None, env: dict | None = None, transports: dict | None = None,
                 backends: dict | None = None):
        from .answers import AnswerCache
        from .backends.hosts import HostCooldown
        from .budget_guard import BudgetGuard
        from .dispatch import BackendPool, Breaker, Dispatcher

        super().__init__(settings, env=env)
        self._owns_ledger = ledger is None
        if ledger is None:
            from .ledger.store import Ledger

            ledger = Ledger()
        self.ledger = ledger
        self.pool = BackendPool(settings, self.env, transports=transports, overrides=backends)
        d = settings.dispatch
        self.breaker = Breaker(d.failures_to_trip, d.cooldown_s)
        self.hosts = HostCooldown(d.cooldown_s)  # hosts that refused, stalled or answered 5xx lately
        self.cache = AnswerCache(settings.cache.ttl_s, self._answer_store(settings))
        self.dispatcher = Dispatcher(settings, self.pool, self.breaker, self.count_tokens, self.hosts)
        # reservations against the cloud caps for requests in flight (see budget_guard)
        self.budget_guard = BudgetGuard(lambda: self.settings, self.ledger)
        # called with (request, result) after every answered request: telemetry exporters, status bars
        self.observers: list[Callable[[RunRequest, RunResult], None]] = []

    def _notify(self, req: RunRequest, result: RunResult) -> RunResult:
        for fn in self.observers:
            try:
                fn(req, result)
            except Exception:  # an exporter must never break a request
                log.exception("observer failed")
        return result

    def _answer_store(self, settings) -> AnswerStore | None:
        """The shared answer file beside the ledger; none for an in-memory ledger (tests, benches)."""
        from .answers import AnswerStore

        path = getattr(self.ledger, "path", None)
        if not settings.cache.persist or path is None or str(path) == ":memory:":
            return None
        return AnswerStore(Path(path).parent / "answers.sqlite3")

    # ---- settings -------------------------------------------------------------------------
    def update_settings(self, settings) -> None:
        self.settings = settings
        self.pool.settings = settings
        self.dispatcher.settings = settings
        self.breaker.trip = settings.dispatch.failures_to_trip
        self.breaker.cooldown = settings.dispatch.cooldown_s
        self.hosts.cooldown_s = settings.dispatch.cooldown_s
        self.cache.ttl = settings.cache.ttl_s
        if not settings.cache.persist and self.cache.store is not None:
            self.cache.store.close()
            self.cache.store = None

    def _has_caps(self) -> bool:
        b = self.settings.budget
        return bool(b.monthly_cloud_usd or b.daily_cloud_usd)

    async def _cloud_spend(self) -> tuple[float, float]:
        return await _in_thread(lambda: (self.ledger.month_cloud_spend(), self.ledger.day_cloud_spend()))

    # ---- the whole job ---------------------------------------------------------------------
    async def _off(self, size: int, fn, *args):
        if size > _OFFLOAD_CHARS:
            return await _in_thread(fn, *args)
        return fn(*args)

    async def run(self, req: RunRequest, on_text: Callable[[str], None] | None = None,
                  on_reset: Callable[[str], None] | None = None,
                  confirm: Callable[[str], Awaitable[bool]] | None = None) -> RunResult:
        """Run the request. `on_text` gets streamed deltas; `on_reset` is told when a fallback
        starts over; `confirm` is asked before an unusually expensive cloud request."""
        import asyncio
        import uuid

        from . import prepare
        from .actions import get_action
        from .actions.base import StreamSanitizer
        from .answers import answer_key, answerer

        action = get_action(req.action)
        t0 = time.perf_counter()
        req = await self._off(len(req.document or "") + len(req.text), _encodable, req)
        _, _, clean_prompt = parse_flag(req.prompt)
        clean_text = req.text
        if req.action == "ask" and not req.prompt:
            clean_text = parse_flag(req.text)[2]
        args = (req, clean_text, clean_prompt, self.settings)
        if req.action in ("review", "commit-message") or len(req.document or "") > _OFFLOAD_CHARS:
            prepared = await asyncio.to_thread(prepare.build_context, *args)  # GitPython blocks
        else:
            prepared = prepare.build_context(*args)
        ctx = prepared.context
        messages = action.messages(ctx)
        sent = "\n".join(m.content for m in messages)
        from .context.secrets import contains_secret

        if len(sent) > _OFFLOAD_CHARS:
            # tiktoken releases the GIL: count and scan side by side, off the loop
            tokens, secret = await asyncio.gather(asyncio.to_thread(self.count_tokens, sent),
                                                  asyncio.to_thread(contains_secret, sent, req.path))
        else:
            tokens, secret = self.count_tokens(sent), contains_secret(sent, req.path)
        spend = await self._cloud_spend() if self._has_caps() else (0.0, 0.0)
        decision = self._route(req, tokens, prepared.git, secret, spend)
        notes = list(decision.notes) + list(prepared.notes)

        # A diff too big for the chosen tier is condensed on tier 1 first (map), then combined.
        if req.action == "commit-message" and tokens > prepare.capacity(decision, self.settings):
            ctx, cnotes = await self._condense(prepared, decision)
            notes += cnotes
            messages = action.messages(ctx)
            sent = "\n".join(m.content for m in messages)
            tokens = self.count_tokens(sent)
            decision = self._route(req, tokens, prepared.git, secret, spend)

        decision = await self._confirm_cost(req, decision, confirm, secret, prepared, spend)
        request_id = uuid.uuid4().hex
        cache_messages = None  # what the answer is cached under, with the model that answers
        if action.cacheable and self.settings.cache.enabled and decision.chain:
            # looked up under the decided model; kept (in _finish) under the one that answered
            hit = self.cache.get(answer_key(answerer(decision.chain[0], self.settings), messages))
            if hit is not None:
                return await self._cache_hit(req, decision, hit, request_id, tokens, t0, on_text, notes)
            cache_messages = messages

        def validate(text: str) -> str:
            return action.validate(text, ctx)

        # Model output is data: escape sequences are stripped from the stream too, not only from
        # the final answer, since the CLI prints deltas to a terminal as they come.
        clean = StreamSanitizer()

        # what is in flight, so a cancelled request is still recorded with what it used
        current: dict = {"hop": None, "parts": []}

        def on_attempt(hop) -> None:
            current["hop"], current["parts"] = hop, []

        def on_delta(delta: str) -> None:
            current["parts"].append(delta)
            out = clean.feed(delta)
            if out and on_text is not None:
                on_text(out)

        def on_restart(why: str) -> None:
            clean.reset()
            if on_reset is not None:
                on_reset(why)

        hold = self.budget_guard.hold(tokens)
        try:
            try:
                result = await self.dispatcher.run(
                    decision.chain, messages, validate=validate, json_schema=action.json_schema,
                    action_cap=action.max_tokens, on_text=on_delta,
                    on_reset=on_restart, input_tokens_estimate=tokens, admit=hold.admit, on_attempt=on_attempt,
                )
            except asyncio.CancelledError:
                self._record_cancelled(req, request_id, current, tokens, t0)
                raise
            except AllTiersFailed as e:
                await self._record_failure(req, request_id, getattr(e, "attempts", []), t0)
                raise
            if on_text is not None and (tail := clean.flush()):
                on_text(tail)
            notes += result.notes
            return await self._finish(req, action, ctx, decision, result, request_id, tokens, t0, cache_messages,
                                      notes)
        finally:
            hold.release()  # the request's real cost is in the ledger now (or it failed)

    def _record_cancelled(self, req: RunRequest, request_id: str, current: dict, tokens: int, t0: float) -> None:
        """A cancelled request used the input and whatever streamed before the cancel: a cloud
        provider bills that, so the ledger (and the budget) must see it."""
        hop = current["hop"]
        if hop is None:
            return
        out = self.count_tokens("".join(current["parts"]))
        latency_ms = (time.perf_counter() - t0) * 1000
        try:
            self.ledger.record_request(
                action=req.action, tier=hop.tier, backend=hop.backend, model=hop.model, input_tokens=tokens,
                output_tokens=out, latency_ms=latency_ms,
                cost_usd=self._price(hop.backend, hop.model, hop.tier, tokens, out, latency_ms),
                baseline_cost_usd=self._baseline(tokens, out), outcome="cancelled", request_id=request_id,
                tokens_counted=True, reason="cancelled", path=req.path, workspace=req.workspace,
            )
        except Exception:  # recording must never turn a cancel into another error
            log.exception("could not record a cancelled request")

    async def _condense(self, prepared, decision: Decision):
        """Summarize each chunk of a huge staged diff on the tier-1 chain, then combine."""
        from . import prepare
        from .actions.base import check_common
        from .backends.base import Message

        chunks, left = prepare.diff_chunks(prepared, self.settings)
        summaries: list[str] = []
        chain = self._route(RunRequest(action="complete"), 0, GitSummary(), decision.private).chain
        chain = tuple(h for h in chain if h.tier in (0, 1) or (h.tier == 2 and not decision.private))
        for i, chunk in enumerate(chunks):
            msgs = [
                Message("system", "You summarize code changes. Output only the summary."),
                Message("user", "Summarize what this part of a diff changes, in at most 3 short lines.\n\n" + chunk),
            ]
            res = await self.dispatcher.run(chain, msgs, validate=lambda t: check_common("summary", t), action_cap=120)
            summaries.append(res.text.strip())
        combined = "\n".join(f"- {s}" for s in summaries)
        if left:
            combined += "\n- also changed (not summarized): " + ", ".join(left[:30])
        notes = [f"staged diff condensed: {len(chunks)} chunk(s) summarized on tier 1, then combined"]
        return prepare.with_diff(prepared.context, combined), notes

    def _price(self, backend: str, model: str, tier: int, inp: int, out: int, latency_ms: float) -> float | None:
        """None when the model has no known price: the ledger shows it as unpriced, never as free."""
        from .ledger.prices import cost_usd

        hourly = self.settings.tier(tier).hourly_cost_usd if tier else 0.0
        return cost_usd(backend, model, inp, out, latency_s=latency_ms / 1000, hourly_cost_usd=hourly,
                        overrides=self.settings.ledger.price_overrides)

    def _baseline(self, inp: int, out: int) -> float | None:
        from .ledger.prices import baseline_cost

        return baseline_cost(self.settings, inp, out)

    async def _finish(self, req, action, ctx, decision, result: DispatchResult, request_id, tokens, t0,
                      cache_messages, notes) -> RunResult:
        from .actions.base import sanitize
        from .answers import answer_key, answerer

        final = result.answer
        fallbacks: list[Fallback] = []
        prev = None
        for a in result.attempts:
            if prev is not None:
                fallbacks.append(Fallback(prev.hop.label, a.hop.label, prev.reason))
            prev = a
        final_cost = self._price(final.hop.backend, final.hop.model, final.hop.tier, final.input_tokens,
                                 final.output_tokens, final.latency_ms)
        cost = final_cost or 0.0  # what the user paid: the answer plus every hop that produced tokens
        writes = []
        for a in result.attempts:
            if a is final:
                continue
            hop_cost, write = self._hop_write(req, request_id, a)
            cost += hop_cost or 0.0
            writes.append(write)
        baseline = self._baseline(final.input_tokens or tokens, final.output_tokens)
        latency_ms = (time.perf_counter() - t0) * 1000
        text = sanitize(result.text)
        findings: list[Finding] = []
        if req.action == "review" and not result.best_effort:
            text, findings = _review_view(text)
        outcome = "ok" if len(result.attempts) == 1 else "fallback"
        writes.append(partial(
            self.ledger.record_request,
            action=req.action, tier=final.hop.tier, backend=final.hop.backend, model=final.hop.model,
            input_tokens=final.input_tokens, output_tokens=final.output_tokens, latency_ms=latency_ms,
            cost_usd=final_cost, baseline_cost_usd=baseline, outcome=outcome, request_id=request_id,
            ttft_ms=final.ttft_ms, tokens_counted=final.usage_counted, reason=fallbacks[-1].reason if fallbacks else "",
            validator="fail" if result.best_effort else "pass", path=req.path, workspace=req.workspace,
        ))
        await self._record(writes, notes)
        status = await self._budget_status()
        if cache_messages is not None and not result.best_effort:
            # under the model that answered, never the one decided: a fallback's answer is its own
            key = answer_key(answerer(final.hop, self.settings), cache_messages)
            hop = {"tier": final.hop.tier, "backend": final.hop.backend, "model": final.hop.model}
            self.cache.put(key, {"text": result.text, "cost": cost, "hop": hop,
                                 "output_tokens": final.output_tokens, "input_tokens": final.input_tokens},
                           private=decision.private)
        return self._notify(req, RunResult(
            text=text, decision=decision,
            usage=UsageReport(final.input_tokens, final.output_tokens, round(cost, 8), round(baseline or 0.0, 8)),
            fallbacks=fallbacks, request_id=request_id, backend=final.hop.backend, model=final.hop.model,
            tier=final.hop.tier, latency_ms=latency_ms, ttft_ms=final.ttft_ms, findings=findings, notes=notes,
            budget=status,
        ))

    def _hop_write(self, req: RunRequest, request_id: str, a: Attempt):
        """(the attempt's cost, the ledger write recording it as a hop of `request_id`)."""
        hop_cost = self._price(a.hop.backend, a.hop.model, a.hop.tier, a.input_tokens, a.output_tokens,
                               a.latency_ms) if a.output_tokens else 0.0
        return hop_cost, partial(
            self.ledger.record_hop,
            request_id, action=req.action, tier=a.hop.tier, backend=a.hop.backend, model=a.hop.model,
            reason=a.reason, cost_usd=hop_cost, input_tokens=a.input_tokens, output_tokens=a.output_tokens,
            tokens_counted=a.usage_counted, latency_ms=a.latency_ms, ttft_ms=a.ttft_ms,
        )

    async def _record_failure(self, req: RunRequest, request_id: str, attempts: list[Attempt], t0: float) -> None:
        """Every tier failed: the earlier attempts as hops, the last one as the request, outcome error."""
        if not attempts:
            return
        *earlier, last = attempts
        writes = [self._hop_write(req, request_id, a)[1] for a in earlier]
        writes.append(partial(
            self.ledger.record_request,
            action=req.action, tier=last.hop.tier, backend=last.hop.backend, model=last.hop.model,
            input_tokens=last.input_tokens, output_tokens=0, latency_ms=(time.perf_counter() - t0) * 1000,
            cost_usd=0.0, baseline_cost_usd=0.0, outcome="error", request_id=request_id, reason=last.reason,
            path=req.path, workspace=req.workspace,
        ))
        try:
            await _in_thread(lambda: [w() for w in writes])
        except Exception:  # the user must see the backend's error, not a ledger one
            log.exception("could not record the failed request in the ledger")

    async def _record(self, writes: list[Callable[[], object]], notes: list[str]) -> None:
        """Write the ledger rows of an answered request, off the loop (another process can hold the
        ledger's lock for a while). A ledger that stays locked or is damaged costs the rows, with a
        note and a log line, never the answer the user is waiting for."""
        import sqlite3

        try:
            await _in_thread(lambda: [w() for w in writes])
        except sqlite3.Error as e:
            log.error("ledger %s: could not record the request: %s", getattr(self.ledger, "path", "?"), e)
            notes.append(f"not recorded in the ledger ({e}): its cost is missing from reports and budgets")

    async def _cache_hit(self, req, decision, hit, request_id, tokens, t0, on_text, notes) -> RunResult:
        from .actions.base import sanitize

        text = sanitize(hit["text"])
        findings: list[Finding] = []
        if req.action == "review":
            text, findings = _review_view(text)
        if on_text is not None:
            on_text(text)
        hop = Hop(**hit["hop"])
        latency_ms = (time.perf_counter() - t0) * 1000
        baseline = self._baseline(hit["input_tokens"] or tokens, hit["output_tokens"])
        await self._record([partial(
            self.ledger.record_request,
            action=req.action, tier=hop.tier, backend=hop.backend, model=hop.model,
            input_tokens=hit["input_tokens"], output_tokens=hit["output_tokens"], latency_ms=latency_ms,
            cost_usd=0.0, baseline_cost_usd=baseline, outcome="cache-hit", request_id=request_id,
            saved_usd=hit["cost"], validator="pass", path=req.path, workspace=req.workspace,
        )], notes)
        return self._notify(req, RunResult(
            text=text, decision=decision,
            usage=UsageReport(hit["input_tokens"], hit["output_tokens"], 0.0, baseline or 0.0),
            fallbacks=[], request_id=request_id, backend=hop.backend, model=hop.model, tier=hop.tier,
            latency_ms=latency_ms, ttft_ms=latency_ms, cached=True, findings=findings,
            notes=notes + [f"answered from cache (saved ${hit['cost']:.6f})"],
        ))

    async def _budget_status(self):
        from .budget import budget_status

        if not self._has_caps():
            return None
        month, day = await self._cloud_spend()
        return budget_status(self.settings, month, day)

    async def _confirm_cost(self, req: RunRequest, decision: Decision, confirm, secret, prepared, spend) -> Decision:
        """Ask before an unusually expensive cloud request; on 'no' the request goes to tier 2."""
        from .backends.registry import is_cloud
        from .budget import confirmation_message, estimate_cloud_cost, needs_confirmation

        if confirm is None or not decision.chain or not is_cloud(decision.chain[0].backend):
            return decision
        est = estimate_cloud_cost(self.settings, decision.input_tokens, decision.max_output_tokens, tier=decision.tier)
        if not needs_confirmation(self.settings, est):
            return decision
        if await confirm(confirmation_message(est, decision.model, decision.input_tokens, decision.max_output_tokens)):
            return decision
        return self._route(replace(req, tier=2), decision.input_tokens, prepared.git, secret, spend)

    def feedback(self, request_id: str, verdict: str, note: str = "") -> None:
        self.ledger.record_feedback(request_id, verdict, note)

    async def aclose(self) -> None:
        await self.pool.aclose()
        if self.cache.store is not None:
            self.cache.store.close()
        if self._owns_ledger:
            self.ledger.close()

