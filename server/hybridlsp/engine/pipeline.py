"""`Engine`: one request end to end, LSP-free, as the list of its stages.

    prepare -> protect -> route -> condense -> budget -> cache -> dispatch -> record -> (learn) -> notify

Each stage is a module of this package taking and returning plain values; `Engine` holds what
lives as long as the process (settings, backends, the ledger, the caches, the observers) and runs
the stages in order. `Engine.run` is cancellable end to end: a cancelled request closes its
upstream stream and is still recorded with what it used.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from ..actions import get_action
from ..actions.base import StreamSanitizer, sanitize
from ..backends.location import cloud_backends
from ..backends.hosts import HostCooldown
from ..budget.guard import BudgetGuard
from ..context.redaction import Redactor
from ..errors import AllTiersFailed
from ..ledger.records import CONDENSE
from ..ledger.store import Ledger
from ..request import Fallback, RunRequest, RunResult, UsageReport
from ..routing.policy import embedded_declines
from ..routing.types import Decision, Hop
from . import budget, cache, condense, prepare, protect
from .cache import AnswerCache
from ..actions import signals
from .dispatch import Attempt, BackendPool, Breaker, Call, DispatchResult, Dispatcher, Hooks
from .learn import Learning
from .notify import Observer, Observers
from .prepare import Prepared
from .protect import OFFLOAD_CHARS, Scanned
from .record import Recorder, Write
from .route import Router

__all__ = ["Engine"]


@dataclass
class _Flight:
    """One request in flight: what a cancel or a failure must still record."""

    req: RunRequest
    request_id: str
    t0: float
    notes: list[str] = field(default_factory=list)
    hop: Hop | None = None  # the hop being sent now
    input_tokens: int = 0  # of what that hop was sent
    parts: list[str] = field(default_factory=list)  # what it streamed so far
    spent_usd: float = 0.0  # the condense calls' cost, part of what the request cost
    redactor: Redactor | None = None  # privacy.on_secret = "redact" replaced its secrets
    holds: list = field(default_factory=list)  # budget holds to release once the cost is recorded

    def latency_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000

    def sending(self, hop: Hop, input_tokens: int) -> None:
        self.hop, self.input_tokens, self.parts = hop, input_tokens, []

    def release(self) -> None:
        while self.holds:
            self.holds.pop().release()


class Engine(Router):
    """Owns settings, backends and the ledger for one process."""

    def __init__(self, settings, *, ledger=None, env: dict | None = None, transports: dict | None = None,
                 backends: dict | None = None):
        super().__init__(settings, env=env)
        self._owns_ledger = ledger is None
        self.ledger = Ledger() if ledger is None else ledger
        self.pool = BackendPool(settings, self.env, transports=transports, overrides=backends)
        d = settings.dispatch
        self.breaker = Breaker(d.failures_to_trip, d.cooldown_s)
        self.hosts = HostCooldown(d.cooldown_s)  # hosts that refused, stalled or answered 5xx lately
        self.cache = AnswerCache(settings.cache.ttl_s, cache.store_beside(self.ledger, settings))
        self.dispatcher = Dispatcher(settings, self.pool, self.breaker, self.count_tokens, self.hosts)
        # reservations against the cloud caps for requests in flight (see budget.guard)
        self.budget_guard = BudgetGuard(lambda: self.settings, self.ledger)
        self.recorder = Recorder(self.ledger, lambda: self.settings)
        self.observers = Observers()
        self.learning: Learning | None = None
        self._learn(settings)

    def _learn(self, settings) -> None:
        """Learning from the user (`escalation.learn`): its estimate decides ask prompts."""
        if settings.escalation.learn and self.learning is None:
            self.learning = Learning(settings, getattr(self.ledger, "path", ":memory:"))
        elif not settings.escalation.learn:
            self.learning = None
        self.estimator = self.learning.estimator if self.learning is not None else None

    def add_observer(self, observer: Observer) -> None:
        """Told every answered request (`observer.observe(request, result)`); shut down with the
        engine when it has a `shutdown()`."""
        self.observers.add(observer)

    def remove_observer(self, observer: Observer) -> None:
        self.observers.remove(observer)

    def update_settings(self, settings) -> None:
        """Settings changed (the editor's): backends built from what changed are made anew."""
        self.settings = settings
        self.cloud = cloud_backends(settings)
        self.pool.update(settings)
        self.dispatcher.settings = settings
        self.breaker.trip = settings.dispatch.failures_to_trip
        self.breaker.cooldown = settings.dispatch.cooldown_s
        self.hosts.cooldown_s = settings.dispatch.cooldown_s
        self.cache.ttl = settings.cache.ttl_s
        self._learn(settings)
        if not settings.cache.persist and self.cache.store is not None:
            self.cache.store.close()
            self.cache.store = None

    # ---- the whole job ---------------------------------------------------------------------
    async def run(self, req: RunRequest, on_text: Callable[[str], None] | None = None,
                  on_reset: Callable[[str], None] | None = None,
                  confirm: Callable[[str], Awaitable[bool]] | None = None) -> RunResult:
        """Run the request. `on_text` gets streamed deltas; `on_reset` is told when a fallback
        starts over; `confirm` is asked before an unusually expensive cloud request."""
        action = get_action(req.action)
        flight = _Flight(req, uuid.uuid4().hex, time.perf_counter())
        req = flight.req = await _off(len(req.document or "") + len(req.text), prepare.encodable, req)
        prepared = await self._prepare(req, action)
        scanned = await protect.scan(prepared.sent, req.path, self.count_tokens)
        if scanned.secret and self.settings.privacy.on_secret == "redact":
            redacted = await _off(len(prepared.sent), protect.redact, prepared, req.path)
            if redacted is not None:
                prepared, flight.redactor, _ = redacted
                scanned = Scanned(self.count_tokens(prepared.sent), False, flight.redactor)
        spend = await budget.cloud_spend(self.ledger, self.settings)
        decision = self.decide(req, scanned.tokens, prepared.git, scanned.secret, spend)
        decided_notes = list(decision.notes)
        try:
            if action.condensable and scanned.tokens > condense.capacity(decision, self.settings):
                prepared = await self._condense(flight, action, prepared, decision)
                scanned = Scanned(self.count_tokens(prepared.sent), scanned.secret, scanned.redactor)
                decision = self.decide(req, scanned.tokens, prepared.git, scanned.secret, spend)
            flight.notes = decided_notes + list(prepared.notes) + flight.notes
            decision = await self._confirm(req, decision, confirm, prepared, scanned, spend)
            # looked up under the decided model; kept (in _finish) under the model that answered
            key = cache.key_for(action, self.settings, decision.chain[0], prepared.messages) if decision.chain else None
            hit = self.cache.get(key) if key else None
            if hit is not None:
                return await self._answer_from_cache(flight, action, decision, hit, scanned.tokens, on_text)
            result = await self._dispatch(flight, action, prepared, decision, scanned.tokens, on_text, on_reset)
            return await self._finish(flight, action, decision, result, scanned.tokens, prepared.messages)
        except asyncio.CancelledError:
            written = self._record_cancelled(flight)
            if written is not None:  # the holds stay until the cost they stand for is in the ledger
                holds, flight.holds = flight.holds, []
                written.add_done_callback(lambda _: [h.release() for h in holds])
            raise
        except AllTiersFailed as e:
            await self._record_failure(flight, getattr(e, "attempts", []))
            e = _say_embedded_was_not_asked(e, req.action, self.settings)
            raise e from None
        finally:
            flight.release()  # the request's real cost is in the ledger now (or it failed)

    # ---- the stages, as the engine runs them ------------------------------------------------
    async def _prepare(self, req: RunRequest, action) -> Prepared:
        if action.reads_git or len(req.document or "") > OFFLOAD_CHARS:
            return await asyncio.to_thread(prepare.prepare, req, action)  # GitPython blocks
        return prepare.prepare(req, action)

    async def _condense(self, flight: _Flight, action, prepared: Prepared, decision: Decision) -> Prepared:
        """Each summary call under its own budget hold, its attempts recorded as hops."""
        calls, left = condense.calls(prepared, decision, self.settings, cloud_available=self.cloud_available(),
                                     cloud_backends=self.cloud, count_tokens=self.count_tokens)
        summaries = []
        for call in calls:
            hold = self.budget_guard.hold(call.input_tokens)
            flight.holds.append(hold)
            hooks = Hooks(on_text=lambda delta: flight.parts.append(delta), admit=hold.admit,
                          on_attempt=lambda hop, n=call.input_tokens: flight.sending(hop, n))
            res = await self.dispatcher.run(call, hooks)
            flight.hop = None  # answered: recorded below, not as a cancelled request
            writes = []
            for a in res.attempts:
                cost, write = self.recorder.hop(flight.req, flight.request_id, a,
                                                reason=CONDENSE if a is res.answer else None)
                flight.spent_usd += cost
                writes.append(write)
            await self.recorder.write(writes, flight.notes)
            flight.release()
            summaries.append(res.text)
        return condense.combine(prepared, action, summaries, left)

    async def _confirm(self, req: RunRequest, decision: Decision, confirm, prepared: Prepared, scanned: Scanned,
                       spend: tuple[float, float]) -> Decision:
        """Ask before an unusually expensive cloud request; on 'no' the request goes to tier 2."""
        question = budget.needs_asking(self.settings, decision) if confirm is not None else None
        if question is None or await confirm(question):
            return decision
        return self.decline(req, decision, prepared.git, scanned.secret, spend)

    async def _dispatch(self, flight: _Flight, action, prepared: Prepared, decision: Decision, tokens: int,
                        on_text, on_reset) -> DispatchResult:
        ctx = prepared.context
        # Model output is data: escape sequences are stripped from the stream too, not only from
        # the final answer, since the CLI prints deltas to a terminal as they come.
        clean = StreamSanitizer()
        # redacted secrets come back as placeholders, put back as they stream (one can be split)
        shown = [flight.redactor.restorer()] if flight.redactor is not None else []

        def on_delta(delta: str) -> None:
            flight.parts.append(delta)
            out = clean.feed(shown[0].feed(delta) if shown else delta)
            if out and on_text is not None:
                on_text(out)

        def on_restart(why: str) -> None:
            clean.reset()
            if shown:
                shown[0] = flight.redactor.restorer()
            if on_reset is not None:
                on_reset(why)

        esc = self.settings.escalation

        def assess(att: Attempt, second: str | None):
            # judged as it will be shown: a placeholder is no name the file lacks
            second = self._restored(flight, second) if second is not None else None
            return signals.assess(action.name, self._restored(flight, att.text), ctx, self.settings,
                                  output_tokens=att.output_tokens, max_tokens=att.max_tokens, logprobs=att.logprobs,
                                  second=second)

        on = esc.enabled and bool(esc.signals)
        call = Call(decision.chain, prepared.messages, lambda text: action.validate(self._restored(flight, text), ctx),
                    json_schema=action.json_schema, action_cap=action.max_tokens, input_tokens=tokens,
                    think=action.think,
                    assess=assess if on else None, logprobs=on and "token-confidence" in esc.signals,
                    second_sample_temperature=esc.sample_temperature
                    if on and esc.second_sample and "samples-disagree" in esc.signals else None,
                    **self._embedded_call(action, ctx, decision))
        hold = self.budget_guard.hold(tokens)
        flight.holds.append(hold)
        hooks = Hooks(on_text=on_delta, on_reset=on_restart, admit=hold.admit,
                      on_attempt=lambda hop: flight.sending(hop, tokens))
        result = await self.dispatcher.run(call, hooks)
        flight.hop = None  # answered: recorded by `_finish`, never as a cancelled request
        tail = (clean.feed(shown[0].flush()) if shown else "") + clean.flush()
        if on_text is not None and tail:
            on_text(tail)
        flight.notes += result.notes
        return result

    def _embedded_call(self, action, ctx, decision: Decision) -> dict:
        """What the embedded hop gets when the action has a form for a 135M model (its own short
        prompt, grammar and check) and an answer without a model for when that fails too."""
        if not any(h.tier == 0 for h in decision.chain):
            return {}
        out: dict = {}
        if hasattr(action, "small_prompt"):
            small = action.small_prompt(ctx)
            check = getattr(action, "small_validate", action.validate)
            msgs = tuple(small.messages)
            out["tier0"] = Call(decision.chain, msgs, lambda text: check(text, ctx), action_cap=small.max_tokens,
                                input_tokens=sum(self.count_tokens(m.content) for m in msgs), grammar=small.grammar,
                                temperature=small.temperature, fixed_messages=small.fixed_messages)
        if hasattr(action, "floor"):
            out["floor"] = lambda: action.floor(ctx)
        return out

    async def _finish(self, flight: _Flight, action, decision: Decision, result: DispatchResult, tokens: int,
                      messages) -> RunResult:
        req, final = flight.req, result.answer
        fallbacks = [Fallback(prev.hop.label, a.hop.label, prev.reason)
                     for prev, a in zip(result.attempts, result.attempts[1:])]
        final_cost = self.recorder.price(final.hop, final.input_tokens, final.output_tokens, final.latency_ms)
        # what the user paid: the answer, every hop that produced tokens, and the condense calls
        cost = (final_cost or 0.0) + flight.spent_usd
        writes: list[Write] = []
        for a in result.attempts:
            if a is not final:
                hop_cost, write = self.recorder.hop(req, flight.request_id, a)
                cost += hop_cost
                writes.append(write)
        baseline = self.recorder.baseline(final.input_tokens or tokens, final.output_tokens)
        latency_ms = flight.latency_ms()
        text, findings = action.present(sanitize(self._restored(flight, result.text)))
        writes.append(self.recorder.request(
            req, flight.request_id, final.hop, input_tokens=final.input_tokens,
            output_tokens=final.output_tokens, latency_ms=latency_ms, cost=final_cost, baseline=baseline,
            outcome="ok" if len(result.attempts) == 1 else "fallback", ttft_ms=final.ttft_ms,
            tokens_counted=final.usage_counted, reason=fallbacks[-1].reason if fallbacks else "",
            validator="pass", signal=final.signal,
            redacted=self._redacted(flight),
        ))
        await self.recorder.write(writes, flight.notes)
        if self.learning is not None:
            await self.learning.answered(flight.request_id, req.prompt or req.text, req.tier, decision, result)
        status = await budget.status(self.ledger, self.settings)
        # under the model that answered, never the decided one: a fallback's answer is its own
        key = cache.key_for(action, self.settings, final.hop, messages)
        if key and not final.signal:  # a doubted answer is not served again
            hop = {"tier": final.hop.tier, "backend": final.hop.backend, "model": final.hop.model}
            self.cache.put(key, {"text": result.text, "cost": cost, "hop": hop, "output_tokens": final.output_tokens,
                                 "input_tokens": final.input_tokens}, private=decision.private)
        return self.observers.notify(req, RunResult(
            text=text, decision=decision,
            usage=UsageReport(final.input_tokens, final.output_tokens, round(cost, 8), round(baseline or 0.0, 8)),
            fallbacks=fallbacks, request_id=flight.request_id, backend=final.hop.backend, model=final.hop.model,
            tier=final.hop.tier, latency_ms=latency_ms, ttft_ms=final.ttft_ms, findings=findings,
            notes=flight.notes, budget=status, redacted=self._redacted(flight),
        ))

    async def _answer_from_cache(self, flight: _Flight, action, decision: Decision, hit: dict, tokens: int,
                                 on_text) -> RunResult:
        text, findings = action.present(sanitize(self._restored(flight, hit["text"])))
        if on_text is not None:
            on_text(text)
        hop = Hop(**hit["hop"])
        latency_ms = flight.latency_ms()
        baseline = self.recorder.baseline(hit["input_tokens"] or tokens, hit["output_tokens"])
        await self.recorder.write([self.recorder.request(
            flight.req, flight.request_id, hop, input_tokens=hit["input_tokens"],
            output_tokens=hit["output_tokens"], latency_ms=latency_ms, cost=0.0, baseline=baseline,
            outcome="cache-hit", saved_usd=hit["cost"], validator="pass", redacted=self._redacted(flight),
        )], flight.notes)
        return self.observers.notify(flight.req, RunResult(
            text=text, decision=decision,
            usage=UsageReport(hit["input_tokens"], hit["output_tokens"], 0.0, baseline or 0.0),
            fallbacks=[], request_id=flight.request_id, backend=hop.backend, model=hop.model, tier=hop.tier,
            latency_ms=latency_ms, ttft_ms=latency_ms, cached=True, findings=findings, redacted=self._redacted(flight),
            notes=flight.notes + [f"answered from cache (saved ${hit['cost']:.6f})"],
        ))

    def _record_cancelled(self, flight: _Flight) -> asyncio.Future | None:
        """A cancelled request used the input and whatever streamed before the cancel: a cloud
        provider bills that, so the ledger (and the budget) must see it. The future is done once
        its row is written; None when nothing was sent."""
        hop = flight.hop
        if hop is None:
            return None
        out = self.count_tokens("".join(flight.parts))
        latency_ms = flight.latency_ms()
        return self.recorder.write_cancelled([self.recorder.request(
            flight.req, flight.request_id, hop, input_tokens=flight.input_tokens, output_tokens=out,
            latency_ms=latency_ms, cost=self.recorder.price(hop, flight.input_tokens, out, latency_ms),
            baseline=self.recorder.baseline(flight.input_tokens, out), outcome="cancelled", tokens_counted=True,
            reason="cancelled", redacted=self._redacted(flight),
        )])

    async def _record_failure(self, flight: _Flight, attempts: list[Attempt]) -> None:
        """Every tier failed: the earlier attempts as hops, the last one as the request, outcome error."""
        if not attempts:
            return
        *earlier, last = attempts
        writes = [self.recorder.hop(flight.req, flight.request_id, a)[1] for a in earlier]
        # a last attempt cut after the upstream accepted it is billed like any such hop
        cost = self.recorder.price(last.hop, last.input_tokens, last.output_tokens, last.latency_ms) if last.billed \
            else 0.0
        writes.append(self.recorder.request(
            flight.req, flight.request_id, last.hop, input_tokens=last.input_tokens,
            output_tokens=last.output_tokens if last.billed else 0, latency_ms=flight.latency_ms(), cost=cost,
            baseline=0.0, outcome="error", reason=last.reason, tokens_counted=last.usage_counted,
            redacted=self._redacted(flight),
        ))
        await self.recorder.write_failed(writes)

    @staticmethod
    def _restored(flight: _Flight, text: str) -> str:
        return flight.redactor.restore(text) if flight.redactor is not None else text

    @staticmethod
    def _redacted(flight: _Flight) -> int:
        return flight.redactor.count if flight.redactor is not None else 0

    async def feedback(self, request_id: str, verdict: str, note: str = "") -> None:
        # off the loop: another process may hold the ledger's write lock for a while
        await asyncio.to_thread(self.ledger.record_feedback, request_id, verdict, note)
        if self.learning is not None:
            await self.learning.feedback(request_id, verdict)

    async def aclose(self) -> None:
        await self.recorder.settle()  # a cancelled request's row, still on its way to the ledger
        await self.budget_guard.settle()  # and the holds it released once it landed
        await self.observers.aclose()
        await self.pool.aclose()
        if self.cache.store is not None:
            self.cache.store.close()
        if self._owns_ledger:
            self.ledger.close()


def _say_embedded_was_not_asked(failed: AllTiersFailed, action: str, settings) -> AllTiersFailed:
    """Add to a failure that the embedded model was not asked, when this action is routed away from
    it (`embedded.actions`): a person seeing no answer should know no last resort was tried."""
    why = embedded_declines(action, settings)
    if why is None:
        return failed
    more = AllTiersFailed(failed.hops + [("embedded", f"not asked: {why}; "
                                                      "start Ollama or set a cloud API key")])
    more.attempts = getattr(failed, "attempts", [])
    return more


async def _off(size: int, fn, *args):
    """`fn(*args)`, in a worker thread when its input is big enough to hold the loop up."""
    if size > OFFLOAD_CHARS:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)
