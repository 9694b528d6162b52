"""The tier policy: pure, no I/O. `decide(request, settings) -> Decision`.

Rules, in the order they win:
 1. explicit tier: the per-request argument, else a leading prompt flag ([tier1]/[local], ...);
 2. long context: more input tokens than `routing.long_context_tokens` -> tier 3;
 3. the action's default (complete 1; explain 1, 2 past a size; review 2, 3 for large diffs or many
    files; commit-message 1, 2 for large staged diffs; ask: the difficulty estimate, default tier 1);
then the gates that can only lower a cloud decision:
 4. privacy: a detected secret or a local-only path never goes to the cloud;
 5. budget: a spent monthly or daily cloud cap degrades tier 3 to tier 2;
 6. no credentials for the cloud backend: the best local tier, with a note.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import PurePath

from .difficulty import Estimator, get_estimator
from .flags import parse_flag
from .types import ACTIONS, Decision, Hop, RouteRequest

__all__ = ["decide", "build_chain", "embedded_declines", "estimate_only", "is_local_only_path"]

_UNSET = object()


@lru_cache(maxsize=64)  # one configuration's globs, asked on every decision
def _glob_matchers(globs: tuple[str, ...]) -> tuple[tuple[str, Callable], ...]:
    return tuple((g, re.compile(fnmatch.translate(os.path.normcase(g))).match) for g in globs)


def is_local_only_path(path: str, globs: list[str]) -> str | None:
    """The glob a path matches (by file name or whole path, as `fnmatch.fnmatch`), or None."""
    if not path:
        return None
    name, whole = os.path.normcase(PurePath(path).name), os.path.normcase(path)
    for g, match in _glob_matchers(tuple(globs)):
        if match(name) or match(whole):
            return g
    return None


def _n(x: int) -> str:
    return f"{x:,}"


def _action_tier(req: RouteRequest, r, estimator: Estimator | None, text: str) -> tuple[int, str]:
    a = req.action
    if a == "complete":
        return 1, "complete -> tier 1 (fast local completion)"
    if a == "explain":
        if req.input_tokens > r.explain_tier2_tokens:
            return 2, f"explain of {_n(req.input_tokens)} tokens > {_n(r.explain_tier2_tokens)} -> tier 2"
        return 1, f"explain of {_n(req.input_tokens)} tokens -> tier 1"
    if a == "review":
        size = max(req.git.diff_tokens, req.input_tokens)
        if size > r.review_cloud_tokens:
            return 3, f"review of {_n(size)} tokens > {_n(r.review_cloud_tokens)} -> cloud"
        if req.git.files_changed > r.review_cloud_files:
            return 3, f"review spans {req.git.files_changed} files > {r.review_cloud_files} -> cloud"
        return 2, "review -> tier 2 (large local model)"
    if a == "commit-message":
        size = req.git.diff_tokens or req.input_tokens
        if size > r.commit_tier2_tokens:
            return 2, f"staged diff {_n(size)} tokens > {_n(r.commit_tier2_tokens)} -> tier 2"
        return 1, f"staged diff {_n(size)} tokens -> tier 1"
    # ask
    # the estimate sees the text as sent; the caller's token ids are of that text (no flag reached here)
    est = estimator.estimate(text, a, req.head_tokens) if estimator is not None else None
    if est is not None:
        return est.tier, est.reason
    return r.default_tier, f"no harder task recognised -> default tier {r.default_tier}"


def embedded_declines(action: str, settings) -> str | None:
    """Why the embedded model is left out of this action's chain (it is routed away from what a
    135M model does badly: `embedded.actions`), or None when it is in it or switched off."""
    e = settings.embedded
    if not e.enabled or not action or action in e.actions:
        return None
    return f"it does not do {action} (embedded.actions)"


def build_chain(tier: int, settings, *, allow_cloud: bool, cloud_backends: frozenset[str] = frozenset(),
                cloud_tiers: frozenset[int] | None = None, action: str = "") -> tuple[Hop, ...]:
    """The decided tier, then escalation upwards, then the local tiers downwards, then embedded.

    Escalating first is the article's fallback chain (low confidence -> bigger model); going down
    after the cloud is its always-available local fallback for people who hit rate limits.
    """
    cloud = _cloud_tiers(settings, cloud_tiers, cloud_backends)
    t1, t2, t3 = settings.tier(1), settings.tier(2), settings.tier(3)
    embedded = settings.embedded.enabled and embedded_declines(action, settings) is None
    return _chain(tier, allow_cloud, (t1.backend, t1.model, 1 in cloud), (t2.backend, t2.model, 2 in cloud),
                  (t3.backend, t3.model, 3 in cloud), embedded)


@lru_cache(maxsize=256)  # a handful of distinct chains per configuration; every decision needs one
def _chain(tier: int, allow_cloud: bool, *spec) -> tuple[Hop, ...]:
    *tiers, embedded = spec
    order = [tier] + [t for t in (1, 2, 3) if t > tier] + [t for t in (3, 2, 1) if t < tier]
    hops: list[Hop] = []
    seen = set()
    for t in order:
        backend, model, cloud = tiers[t - 1]
        if cloud and not allow_cloud:
            continue
        if (backend, model) in seen:
            continue
        seen.add((backend, model))
        hops.append(Hop(t, backend, model))
    if embedded:
        hops.append(Hop(0, "embedded", "SmolLM2-135M-Instruct"))
    return tuple(hops)


class _Fixed:
    """What a decision reads from one settings object alone, worked out once for it: the three
    tiers' settings, and each hop chain asked for so far (a handful: by tier, whether the cloud is
    allowed, the cloud tiers and the action). Settings cannot change in place (config's models are
    frozen): a change is a new object (`Engine.update_settings`), so this is keyed by the object itself."""

    __slots__ = ("settings", "tiers", "chains")

    def __init__(self, settings):
        self.settings = settings  # held, so no other object can take its id while this is cached
        self.tiers = {n: settings.tier(n) for n in (1, 2, 3)}
        self.chains: dict[tuple, tuple[Hop, ...]] = {}

    def chain(self, tier: int, allow_cloud: bool, cloud_tiers: frozenset[int], action: str) -> tuple[Hop, ...]:
        key = (tier, allow_cloud, cloud_tiers, action)
        chain = self.chains.get(key)
        if chain is None:
            if len(self.chains) >= 256:  # many callers' own cloud-tier sets: stay bounded
                self.chains.clear()
            chain = self.chains[key] = build_chain(tier, self.settings, allow_cloud=allow_cloud,
                                                   cloud_tiers=cloud_tiers, action=action)
        return chain


_FIXED: dict[int, _Fixed] = {}  # id(settings) -> what is fixed by it; a few settings objects at a time


def _fixed(settings) -> _Fixed:
    f = _FIXED.get(id(settings))
    if f is None or f.settings is not settings:
        if len(_FIXED) >= 8:
            _FIXED.clear()
        f = _FIXED[id(settings)] = _Fixed(settings)
    return f


def _cloud_tiers(settings, given: frozenset[int] | None, cloud_backends: frozenset[str] = frozenset()) -> frozenset[int]:
    """The tiers whose prompts leave the machine: as the caller says (`backends.location.cloud_tiers`,
    which knows each tier's model), else by the tiers' backend names in `cloud_backends`."""
    if given is not None:
        return given
    return frozenset(n for n in (1, 2, 3) if settings.tier(n).backend in cloud_backends)


def estimate_only(action: str, text: str, input_tokens: int, settings) -> bool:
    """Whether `decide` reads this request's text only through the difficulty estimate.

    True for an ask with no prompt flag, within the long-context limit, when the request has no
    explicit tier, path, git context or local-only flag (as `route --jsonl`'s have none). Two such
    requests that agree on `contains_secret` and on their estimate's tier (or both have none) get
    decisions that differ only in the first reason (the estimate's), `input_tokens` and `prompt`,
    so a batch can decide one and reuse the rest (`engine.route_many`). Keep in step with `decide` below;
    tests compare the two on mixed batches.
    """
    return action == "ask" and input_tokens <= settings.routing.long_context_tokens and parse_flag(text)[0] is None


def decide(req: RouteRequest, settings, estimator: Estimator | None | object = _UNSET) -> Decision:
    if req.action not in ACTIONS:
        raise ValueError(f"unknown action {req.action!r}; expected one of {', '.join(ACTIONS)}")
    r = settings.routing
    if estimator is _UNSET:
        estimator = get_estimator(settings)
    reasons: list[str] = []
    notes: list[str] = []
    cloud_tiers = _cloud_tiers(settings, req.cloud_tiers, req.cloud_backends)

    flag_tier, flag, text = parse_flag(req.text)
    if req.tier_override is not None:
        if req.tier_override not in (1, 2, 3):
            raise ValueError(f"tier must be 1, 2 or 3, not {req.tier_override!r}")
        tier = req.tier_override
        reasons.append(f"explicit tier {tier} requested")
    elif flag_tier is not None:
        tier = flag_tier
        reasons.append(f"prompt flag {flag} -> tier {tier}")
    elif req.input_tokens > r.long_context_tokens:
        tier = 3
        reasons.append(f"{req.input_name} {_n(req.input_tokens)} tokens > long-context limit {_n(r.long_context_tokens)} -> cloud")
    else:
        tier, why = _action_tier(req, r, estimator, text)
        reasons.append(why)

    explicit = req.tier_override is not None or flag_tier is not None
    if explicit and req.input_tokens > r.long_context_tokens and tier < 3:
        notes.append(f"{_n(req.input_tokens)} tokens is past the long-context limit; kept on tier {tier} as asked")

    private = False
    glob = is_local_only_path(req.path, r.local_only_globs)
    if req.contains_secret or glob:
        private = True
        why = "text contains a secret" if req.contains_secret else f"path matches local-only glob '{glob}'"
        if tier in cloud_tiers:
            tier = 2
            reasons.append(f"{why} -> stays local (tier 2), never cloud")
        else:
            reasons.append(f"{why} -> local tiers only")

    allow_cloud = not private
    if req.local_only:
        allow_cloud = False
        if tier in cloud_tiers:
            tier = 2
            reasons.append("local-only request -> tier 2")
    if allow_cloud:
        b = settings.budget
        over = None
        if b.monthly_cloud_usd and req.month_cloud_spend_usd >= b.monthly_cloud_usd:
            over = f"monthly cloud budget ${b.monthly_cloud_usd:.2f} spent (${req.month_cloud_spend_usd:.2f})"
        elif b.daily_cloud_usd and req.day_cloud_spend_usd >= b.daily_cloud_usd:
            over = f"daily cloud budget ${b.daily_cloud_usd:.2f} spent (${req.day_cloud_spend_usd:.2f})"
        if over:
            allow_cloud = False
            if tier in cloud_tiers:
                tier = 2
                reasons.append(f"{over} -> tier 2")

    if allow_cloud and not req.cloud_available:
        allow_cloud = False
        if tier in cloud_tiers:
            tier = 2
            t3 = settings.tier(3)
            reasons.append(f"no API key for {t3.backend} -> best local tier (tier 2)")
            notes.append(f"cloud tier skipped: no API key for {t3.backend}")

    fixed = _fixed(settings)
    ts = fixed.tiers[tier] if tier in fixed.tiers else settings.tier(tier)  # (no other tier has settings)
    chain = fixed.chain(tier, allow_cloud, cloud_tiers, req.action)
    return Decision(
        tier=tier,
        backend=ts.backend,
        model=ts.model,
        max_output_tokens=ts.max_output_tokens,
        chain=chain,
        reasons=tuple(reasons),
        prompt=text,
        input_tokens=req.input_tokens,
        private=private,
        notes=tuple(notes),
        cloud_tiers=cloud_tiers,
    )
