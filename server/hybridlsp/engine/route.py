"""The route stage: where a request goes, from the settings and which API keys are set - no
model, no ledger, no files written (`hybridlsp route` runs on this alone).

`Router.decide` is the one place a request is turned into a `routing.decide` call; the engine
calls it once per request, and again only when the input changed (a condensed context, or a
cloud request the person declined).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from ..backends.location import cloud_backends, cloud_tiers, is_cloud
from ..backends.registry import credentials_present
from ..context.tokens import count_tokens
from ..request import RunRequest
from ..routing import RouteRequest, decide, get_estimator
from ..routing.types import Decision, GitSummary

__all__ = ["Router"]

_PREVIEW_CHARS = 200_000
_NO_GIT = GitSummary()


class Router:
    """Decides where a request goes. `Engine` extends it with everything that runs the request."""

    def __init__(self, settings, *, env: dict | None = None):
        self.env = dict(os.environ) if env is None else env
        self.settings = settings
        self.count_tokens = count_tokens
        self.cloud = cloud_backends(settings)
        self._facts_for = None  # (settings, self.estimator) that `_facts_are` was worked out for
        self._facts_are: tuple[bool, frozenset[int], object] = (False, frozenset(), None)
        # the difficulty estimate for ask prompts; None: the settings' own. With escalation.learn,
        # the one adapted to this user (read from beside the usual ledger; the engine uses its own)
        self.estimator = None
        if settings.escalation.learn:
            # optional, and off by default: `route` imports it only when it is on
            from ..config import data_dir
            from ..tuning.online import UserEstimator, UserModel, shares_for, state_path

            user = UserModel(state_path(data_dir() / "ledger.sqlite3"), shares_for(settings))
            self.estimator = UserEstimator(get_estimator(settings), user)

    def cloud_available(self) -> bool:
        return self._facts()[0]

    def _facts(self) -> tuple[bool, frozenset[int], object]:
        """(tier 3 can be asked, the cloud tiers, the difficulty estimate): they depend only on the
        settings, the environment this router was made with and `self.estimator` (the user's, when
        set), so they are worked out once per settings object (a change of settings is a new object:
        `Engine.update_settings`), not on every decision."""
        made_for = self._facts_for
        if made_for is None or made_for[0] is not self.settings or made_for[1] is not self.estimator:
            s = self.settings
            t3 = s.tier(3)
            available = not is_cloud(t3.backend, s, t3.model) or credentials_present(t3.backend, s, self.env)
            estimator = self.estimator if self.estimator is not None else get_estimator(s)
            self._facts_for, self._facts_are = (s, self.estimator), (available, cloud_tiers(s), estimator)
        return self._facts_are

    def decide(self, req: RunRequest, tokens: int, git: GitSummary = GitSummary(), secret: bool = False,
               spend: tuple[float, float] = (0.0, 0.0), head: Sequence[int] | None = None) -> Decision:
        """`tokens`: our count of what is sent; `spend`: (month, day) cloud spend; `head`: the
        routed text's first token ids, when the caller has encoded it (`route_many`)."""
        return self._decide(req.action, req.prompt or req.text, tokens, git, secret, spend, head,
                            req.path, req.language, req.tier, req.local_only)

    def decide_prompt(self, action: str, prompt: str, tokens: int, secret: bool = False,
                      head: Sequence[int] | None = None) -> Decision:
        """`decide(RunRequest(action=action, text=prompt), ...)` for a bare prompt, as `route` has
        them (no path, git context, tier or spend), without building the request (~2.5 us)."""
        return self._decide(action, prompt, tokens, _NO_GIT, secret, (0.0, 0.0), head, "", "", None, False)

    def _decide(self, action: str, text: str, tokens: int, git: GitSummary, secret: bool,
                spend: tuple[float, float], head: Sequence[int] | None, path: str, language: str,
                tier: int | None, local_only: bool) -> Decision:
        available, tiers_in_cloud, estimator = self._facts()
        return decide(
            RouteRequest(
                action=action, text=text, input_tokens=tokens, path=path, language=language, git=git,
                tier_override=tier, contains_secret=secret, month_cloud_spend_usd=spend[0],
                day_cloud_spend_usd=spend[1], cloud_available=available, local_only=local_only,
                head_tokens=head, input_name=self._input_name(action, tokens), cloud_backends=self.cloud,
                cloud_tiers=tiers_in_cloud,
            ),
            self.settings,
            estimator,
        )

    def _input_name(self, action: str, tokens: int) -> str:
        """The action's word for what is sent, which the policy uses only in its long-context reason."""
        if tokens <= self.settings.routing.long_context_tokens:
            return "input"  # unread below the limit
        # every action's module (prompts, tree-sitter): only past the limit, so `route` never loads them
        from ..actions import get_action

        return get_action(action).input_name

    def decline(self, req: RunRequest, decision: Decision, git: GitSummary, secret: bool,
                spend: tuple[float, float]) -> Decision:
        """The decision when the person declines an expensive cloud request: tier 2."""
        return self.decide(replace(req, tier=2), decision.input_tokens, git, secret, spend)

    def preview(self, req: RunRequest) -> Decision:
        """Fast, synchronous, no model and no git: the decision a code action title shows.
        (The secret gate runs in `run`; a preview may show cloud for text that `run` keeps local.)"""
        text = req.text if len(req.text) < _PREVIEW_CHARS else req.text[:_PREVIEW_CHARS]
        tokens = self.count_tokens(text) + (self.count_tokens(req.prompt) if req.prompt else 0)
        return self.decide(req, tokens)
