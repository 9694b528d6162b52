"""The dispatch stage: a request run along its fallback chain - retries, escalation, a circuit
breaker per backend, validation.

One timeout and retry policy for every backend lives here (backends never retry on their own):
- 429 with Retry-After within `dispatch.retry_after_max_s`, and 5xx: up to `max_retries` more tries
  on the same backend, then the next hop;
- connection refused, timeout, context-length, broken stream, no key: the next hop at once;
- an answer that fails the action's validator, is cut off by its output budget (`truncated`), or
  is refused by the model (`refusal`, `content-filter`): the next hop; the embedded hop gets the
  action's own call for a 135M model (`Call.tier0`), and when its answer fails too, the action's
  answer built without a model (`Call.floor`), where it has one;
- a local answer that passed it but that an answer signal flags as likely wrong (`Call.assess`,
  actions/signals.py): the next hop if a bigger tier is left (the article's "escalate when the local
  answer is low-confidence"); if no later hop answers, the flagged answer stands, with a note;
- a host that failed `failures_to_trip` times in a row is skipped for `cooldown_s`, whichever
  tiers point at it;
- a host that refused a connection, passed a stream limit or answered 5xx: every other hop on it is
  skipped for the rest of the request (`host-down`), and in later requests for `cooldown_s`
  (`host-cooldown`) unless every hop is on a host cooling down (`backends.hosts`);
- a hop whose window cannot hold the prompt plus its output budget is skipped, unsent;
- a hop the caller's `admit` hook refuses (the budget guard, for cloud hops) is skipped.
Thinking is kept out of answers (`<think>` blocks and all before a lone `</think>` too) and
counted as output. A hop that fails after the upstream accepted it is billed: its input and
whatever it generated are recorded (`billed`).
When every hop fails, `AllTiersFailed.attempts` carries them, so the caller can record them: an
answer that failed its check is never passed on as if it were one.
Cancellation propagates: closing the stream closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Awaitable, Callable

from ..backends import FINISH_FILTERED, FINISH_LENGTH, FINISH_REFUSAL, strip_thinking
from ..backends.base import ChatRequest, Message, Usage
from ..backends.hosts import HostCooldown, origin_of
from ..backends.location import is_cloud
from ..backends.registry import build_key, create_backend, credentials_present, host_key, spec
from ..errors import (
    AllTiersFailed,
    BackendError,
    MissingCredentials,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from ..routing.types import Hop

if TYPE_CHECKING:
    from ..actions.signals import Signal

__all__ = ["Attempt", "Call", "Hooks", "DispatchResult", "Breaker", "BackendPool", "Dispatcher"]

# Failures that say the backend itself is unwell (open the circuit); the others are about the request.
_HEALTH_FAILURES = ("unavailable", "timeout", "server-error", "rate-limited")


@dataclass
class Attempt:
    hop: Hop
    outcome: str  # ok | failed | invalid | low-confidence | skipped
    reason: str = ""  # error tag (timeout, rate-limited, invalid-answer, low-confidence, circuit-open, ...)
    detail: str = ""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    usage_counted: bool = False  # True when we counted tokens ourselves
    text: str = ""
    thinking: str = ""  # what the model reasoned, never part of `text`
    finish: str = ""  # why the answer ended (backends.FINISH_*), "" when it did not
    detail_text: str = ""  # a refusal's words
    billed: bool = False  # the upstream accepted it: its input (and any output) is paid for
    max_tokens: int = 0  # the output budget it was sent with
    logprobs: list[float] = field(default_factory=list)  # of each answer token, when asked and given
    signal: str = ""  # for outcome low-confidence: the answer signal that flagged it


@dataclass(frozen=True)
class Call:
    """What to send, along which chain, and how to check the answer."""

    chain: tuple[Hop, ...]
    messages: tuple[Message, ...]
    validate: Callable[[str], str]  # the cleaned answer, or raises ValidationFailed
    json_schema: dict | None = None
    action_cap: int | None = None  # the action's output budget; the tier's cap applies too
    input_tokens: int = 0  # our count of what is sent: a hop whose window is smaller is skipped
    think: bool = False  # the action lets a model reason first (ChatRequest.think)
    grammar: str | None = None  # GBNF the answer must follow, where the backend can enforce it
    temperature: float | None = None  # None: the backends' default
    fixed_messages: int = 0  # leading messages of the action's own fixed text (ChatRequest.fixed_messages)
    tier0: Call | None = None  # what the embedded hop is sent instead (a short prompt, a grammar)
    floor: Callable[[], str | None] | None = None  # an answer without a model, when the embedded one fails
    # a validated local answer (and a second sample's text, or None) -> the signal that flags it, or None
    assess: Callable[[Attempt, str | None], Signal | None] | None = None
    logprobs: bool = False  # ask backends for token log-probabilities (the token-confidence signal)
    second_sample_temperature: float | None = None  # ask a local hop twice, at this temperature, to compare


@dataclass(frozen=True)
class Hooks:
    """What the caller hears while a call runs, and its say before each hop."""

    on_text: Callable[[str], None] | None = None  # streamed deltas
    on_reset: Callable[[str], None] | None = None  # a fallback starts the answer over (why)
    on_attempt: Callable[[Hop], None] | None = None  # a hop is about to be sent
    # before each hop: None to go ahead, or why it is skipped (the budget hold, for cloud hops)
    admit: Callable[[Hop, ChatRequest], Awaitable[str | None]] | None = None


@dataclass
class DispatchResult:
    answer: Attempt  # the attempt whose text is the result
    attempts: list[Attempt]
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.answer.text

    @property
    def hop(self) -> Hop:
        return self.answer.hop


class Breaker:
    """Consecutive-failure circuit breaker per host (LiteLLM-style cool-down)."""

    def __init__(self, failures_to_trip: int, cooldown_s: float, clock=time.monotonic):
        self.trip = failures_to_trip
        self.cooldown = cooldown_s
        self.clock = clock
        self._fails: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    def allow(self, key: str) -> bool:
        return self.clock() >= self._open_until.get(key, 0.0)

    def success(self, key: str) -> None:
        self._fails.pop(key, None)
        self._open_until.pop(key, None)

    def failure(self, key: str) -> None:
        n = self._fails.get(key, 0) + 1
        self._fails[key] = n
        if n >= self.trip:
            self._open_until[key] = self.clock() + self.cooldown


class BackendPool:
    """One backend instance (one httpx client) per backend name, created on first use, and made
    again when the settings it was built from change."""

    def __init__(self, settings, env: dict, transports: dict | None = None, overrides: dict | None = None):
        self.settings = settings
        self.env = env
        self.transports = transports or {}
        self._fixed = set(overrides or {})  # given by the caller (tests): never rebuilt
        self._backends: dict = dict(overrides or {})
        self._built: dict[str, tuple] = {}
        self._retired: list = []  # replaced while a request may still stream from them

    def get(self, name: str):
        b = self._backends.get(name)
        if b is None:
            b = create_backend(name, self.settings, transport=self.transports.get(name), env=self.env)
            self._backends[name] = b
            self._built[name] = build_key(name, self.settings)
        return b

    def update(self, settings) -> list[str]:
        """Take new settings; drop the backends they change (the next request makes them anew).
        Returns their names. A dropped one is closed at `aclose`, not under a running request."""
        self.settings = settings
        stale = []
        for name, key in list(self._built.items()):
            try:
                same = build_key(name, settings) == key
            except Exception:  # no longer defined: drop it too
                same = False
            if not same:
                self._retired.append(self._backends.pop(name))
                del self._built[name]
                stale.append(name)
        return stale

    def has_credentials(self, name: str) -> bool:
        return credentials_present(name, self.settings, self.env)

    def host(self, name: str) -> str:
        """The breaker key of `name`: its host, so tiers on one server share one cool-down."""
        try:
            return host_key(name, self.settings)
        except Exception:  # a backend only the caller knows (tests' overrides)
            return name

    def cloud(self, hop: Hop) -> bool:
        return is_cloud(hop.backend, self.settings, hop.model)

    async def aclose(self) -> None:
        for b in list(self._backends.values()) + self._retired:
            with contextlib.suppress(Exception):
                await b.aclose()
        self._backends.clear()
        self._built.clear()
        self._retired.clear()


class Dispatcher:
    def __init__(self, settings, pool: BackendPool, breaker: Breaker, count_tokens: Callable[[str], int],
                 hosts: HostCooldown | None = None):
        self.settings = settings
        self.pool = pool
        self.breaker = breaker
        self.count = count_tokens
        self.hosts = HostCooldown(settings.dispatch.cooldown_s) if hosts is None else hosts

    def _max_tokens(self, hop: Hop, action_cap: int | None) -> int:
        cap = self.settings.embedded.max_output_tokens if hop.tier == 0 else self.settings.tier(hop.tier).max_output_tokens
        return min(cap, action_cap) if action_cap else cap

    def _window(self, hop: Hop) -> int:
        """The hop's context window in tokens (our estimate's units)."""
        return self.settings.embedded.n_ctx if hop.tier == 0 else self.settings.tier(hop.tier).num_ctx

    async def _request(self, hop: Hop, call: Call) -> ChatRequest:
        num_ctx = None if hop.tier == 0 else self.settings.tier(hop.tier).num_ctx
        req = ChatRequest(
            model=hop.model,
            messages=tuple(call.messages),
            max_tokens=self._max_tokens(hop, call.action_cap),
            json_schema=call.json_schema,
            num_ctx=num_ctx,
            think=call.think,
            grammar=call.grammar,
            logprobs=call.logprobs,
            fixed_messages=call.fixed_messages,
            **({} if call.temperature is None else {"temperature": call.temperature}),
        )
        backend = self.pool.get(hop.backend)
        will_think = getattr(backend, "will_think", None)
        if hop.tier and will_think is not None and await will_think(req):
            # reasoning comes out of the same budget before the answer: leave it room (and the
            # budget guard, which reserves for max_tokens, counts it)
            req = replace(req, max_tokens=req.max_tokens + self.settings.tier(hop.tier).thinking_tokens)
        return req

    async def _stream_once(self, backend, req: ChatRequest, on_text, attempt: Attempt, t0: float) -> Usage | None:
        parts: list[str] = []
        thought: list[str] = []
        attempt.text = attempt.thinking = ""
        attempt.logprobs.clear()  # a retry starts the answer over
        usage = None
        try:
            async with contextlib.aclosing(backend.stream(req)) as stream:
                async for chunk in stream:
                    if chunk.text:
                        if attempt.ttft_ms is None:
                            attempt.ttft_ms = (time.perf_counter() - t0) * 1000
                        parts.append(chunk.text)
                        attempt.logprobs.extend(chunk.logprobs)
                        if on_text is not None:
                            on_text(chunk.text)
                    if chunk.thinking:
                        thought.append(chunk.thinking)
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if chunk.finish:
                        attempt.finish, attempt.detail_text = chunk.finish, chunk.detail
        finally:
            # kept on failure too: what streamed before a cut is what the provider bills
            attempt.text, attempt.thinking = "".join(parts), "".join(thought)
        return usage

    def _count_usage(self, attempt: Attempt, req: ChatRequest, usage: Usage | None) -> None:
        if usage is not None:
            attempt.input_tokens, attempt.output_tokens = usage.input_tokens, usage.output_tokens
            return
        attempt.usage_counted = True
        attempt.input_tokens = sum(self.count(m.content) for m in req.messages)
        # thinking is generated, and billed, like the answer
        attempt.output_tokens = self.count(attempt.thinking + attempt.text)

    async def _try_hop(self, attempt: Attempt, req: ChatRequest, on_text) -> Attempt:
        d = self.settings.dispatch
        backend = self.pool.get(attempt.hop.backend)
        t0 = time.perf_counter()
        tries = 0
        while True:
            try:
                usage = await self._stream_once(backend, req, on_text, attempt, t0)
                break
            except (RateLimited, ServerError) as e:
                wait = getattr(e, "retry_after", None)
                if wait is None:
                    wait = 0.25 * (2**tries)
                if tries >= d.max_retries or wait > d.retry_after_max_s or attempt.ttft_ms is not None:
                    raise
                tries += 1
                await asyncio.sleep(wait)
        attempt.latency_ms = (time.perf_counter() - t0) * 1000
        attempt.billed = True
        self._count_usage(attempt, req, usage)
        return attempt

    async def run(self, whole: Call, hooks: Hooks = Hooks()) -> DispatchResult:
        on_text, on_reset, on_attempt, admit = hooks.on_text, hooks.on_reset, hooks.on_attempt, hooks.admit
        attempts: list[Attempt] = []
        flagged: Attempt | None = None  # the last answer that passed its check but a signal flagged
        notes: list[str] = []
        streamed = False
        dropped: str | None = None  # why the text streamed so far is thrown away, once another hop starts
        origins = [origin_of(hop.backend, self.settings) for hop in whole.chain]
        cooling = self.hosts.skips(origins)  # hosts that failed in earlier requests
        down: dict[str, str] = {}  # hosts that failed in this one

        def text_sink(delta: str) -> None:
            nonlocal streamed
            streamed = True
            if on_text is not None:
                on_text(delta)

        for i, (hop, host) in enumerate(zip(whole.chain, origins)):
            call = whole.tier0 if hop.tier == 0 and whole.tier0 is not None else whole
            input_tokens_estimate = call.input_tokens
            key = self.pool.host(hop.backend)
            if host in down:
                attempts.append(Attempt(hop, "skipped", "host-down", f"{down[host]}; not asked again in this request"))
                continue
            if host in cooling:
                attempts.append(Attempt(hop, "skipped", "host-cooldown", cooling[host]))
                continue
            if not self.breaker.allow(key):
                attempts.append(Attempt(hop, "skipped", "circuit-open",
                                        f"{hop.backend} ({key}) failed recently; skipped during its cool-down"))
                continue
            if not self.pool.has_credentials(hop.backend):
                err = MissingCredentials(hop.backend, "no API key", _key_fix(self.settings, hop.backend))
                attempts.append(Attempt(hop, "skipped", err.reason, str(err)))
                notes.append(f"cloud tier skipped: {err}")
                continue
            try:
                req = await self._request(hop, call)
            except BackendError as e:  # asking the model what it can do failed: so would the call
                if e.reason in _HEALTH_FAILURES:
                    self.breaker.failure(key)
                if self.hosts.failed(host, e):
                    down[host] = f"{host} failed on {hop.label} ({e.reason}: {e.detail})"
                attempts.append(Attempt(hop, "failed", e.reason, str(e)))
                continue
            window = self._window(hop)
            if input_tokens_estimate + req.max_tokens > window:
                # the window holds the prompt and the answer: a prompt that leaves no room for the
                # output budget is cut (Ollama does so silently) or the answer is: not sent
                why = (f"{input_tokens_estimate:,} prompt tokens and a {req.max_tokens:,}-token answer do not fit "
                       f"{hop.model}'s {window:,}-token window; not sent")
                attempts.append(Attempt(hop, "skipped", "context-length", why))
                continue
            refused = await admit(hop, req) if admit is not None else None
            if refused:
                attempts.append(Attempt(hop, "skipped", "budget", refused))
                notes.append(refused)
                continue
            if dropped is not None:
                said = f"the partial answer is dropped ({dropped}); escalating to {hop.label}, which answers instead"
                notes.append(said)
                if on_reset is not None:
                    on_reset(said)
                dropped = None
            streamed = False
            t0 = time.perf_counter()
            if on_attempt is not None:
                on_attempt(hop)
            att = Attempt(hop=hop, outcome="failed", max_tokens=req.max_tokens)
            try:
                await self._try_hop(att, req, text_sink)
            except BackendError as e:
                if e.reason in _HEALTH_FAILURES:
                    self.breaker.failure(key)
                if self.hosts.failed(host, e):
                    down[host] = f"{host} failed on {hop.label} ({e.reason}: {e.detail})"
                att.reason, att.detail = e.reason, str(e)
                att.latency_ms = (time.perf_counter() - t0) * 1000
                att.input_tokens = input_tokens_estimate
                if e.answer_began:
                    # the provider accepted it: the input and what was generated before the cut are billed
                    att.billed, att.usage_counted = True, True
                    att.output_tokens = self.count(att.thinking + att.text)
                attempts.append(att)
                dropped = f"{hop.label} {e.reason}: {e.detail}" if streamed else None
                continue
            self.breaker.success(key)
            self.hosts.succeeded(host)
            att.text = strip_thinking(att.text)
            # a cut-off, refused or filtered answer fails like one that failed the action's check
            failed = _ended_early(att, req)
            said = why = ""
            if failed is not None:
                said, why = f"{failed[0]}: {failed[1]}", f"did not end on its own ({failed[1]})"
            else:
                try:
                    att.text = call.validate(att.text)
                except ValidationFailed as e:
                    failed = (e.reason, f"failed the check: {e.problem}")
                    said, why = f"failed its check: {e.problem}", f"failed its check ({e.problem})"
            if failed is not None:
                att.outcome, att.reason, att.detail = "invalid", *failed
                # a flagged answer that passed its check is a model's answer: it beats the floor
                floor = _floor(whole) if hop.tier == 0 and flagged is None else None
                if floor is None:
                    attempts.append(att)
                    dropped = f"{hop.label}'s answer {said}" if streamed else None
                    continue
                att.text = floor
                notes.append(f"the embedded model's answer {why}; this one is built from the diff alone")
            else:
                if call.assess is not None and not self.pool.cloud(hop) and _bigger_tier_after(whole.chain, i):
                    second = await self._second_sample(hop, req, call, att)
                    signal = call.assess(att, second)
                    if signal is not None:
                        att.outcome, att.reason, att.signal, att.detail = "low-confidence", "low-confidence", \
                            signal.name, signal.detail
                        attempts.append(att)
                        flagged = att
                        continue
            att.outcome = "ok"
            attempts.append(att)
            return DispatchResult(att, attempts, notes=notes)

        if flagged is not None:
            # It passed its check; no bigger tier did better: it stands, and says why it is doubted.
            notes.append(f"low confidence ({flagged.signal}: {flagged.detail}); no bigger tier answered")
            return DispatchResult(flagged, attempts, notes=notes)
        failed = AllTiersFailed([(a.hop.label, a.detail or a.reason) for a in attempts])
        failed.attempts = attempts
        raise failed

    async def _second_sample(self, hop: Hop, req: ChatRequest, call: Call, att: Attempt) -> str | None:
        """A second answer from the same hop, unstreamed, for the samples-disagree signal; its
        tokens count toward the attempt. None when not asked for or when it fails."""
        if call.second_sample_temperature is None:
            return None
        try:
            other = await self._try_hop(Attempt(hop=hop, outcome="failed"),
                                        replace(req, temperature=call.second_sample_temperature), None)
        except BackendError:
            return None
        att.input_tokens += other.input_tokens
        att.output_tokens += other.output_tokens
        att.latency_ms += other.latency_ms
        if _ended_early(other, req) is not None:  # a cut-off sample would disagree for no reason
            return None
        return strip_thinking(other.text)


def _ended_early(att: Attempt, req: ChatRequest) -> tuple[str, str] | None:
    """(reason, detail) when the answer did not end on its own: it is not one to pass on whole."""
    if att.finish == FINISH_LENGTH:
        return "truncated", f"the answer was cut off by its {req.max_tokens:,}-token output budget"
    if att.finish == FINISH_REFUSAL:
        return "refusal", f"the model declined: {att.detail_text[:200]}" if att.detail_text else "the model declined"
    if att.finish == FINISH_FILTERED:
        return "content-filter", "the provider's content filter withheld the answer"
    return None


def _floor(call: Call) -> str | None:
    """The action's answer without a model, checked like any other; None when it has none."""
    if call.floor is None:
        return None
    text = call.floor()
    if not text:
        return None
    try:
        return call.validate(text)
    except ValidationFailed:
        return None


def _bigger_tier_after(chain: tuple[Hop, ...], i: int) -> bool:
    """Whether a hop after the i-th is a bigger tier: escalating is only worth it toward one."""
    return any(h.tier > chain[i].tier for h in chain[i + 1:])


def _key_fix(settings, backend: str) -> str:
    var = spec(backend, settings).api_key_env
    return f"set {var} in your environment, or choose a local tier with [local]"
