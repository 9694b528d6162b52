"""The learn stage: the per-user online estimate (`tuning.online`) as the engine uses it.

With `escalation.learn` on, ask prompts are decided by a `UserEstimator` (the cold-start estimate
as its prior); after each answered ask the outcome of the tier tried is told to it: enough when
that tier's answer stood, not when it escalated or failed its check. A "bad" verdict, or the same
text asked again on a bigger tier soon after, corrects an earlier outcome. The state is one file
beside the ledger (`learner.json`); `hybridlsp tune --reset` deletes it.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

from ..routing import get_estimator, parse_flag
from ..routing.types import Decision
from ..tuning.online import ADAPTED, UserEstimator, UserModel, shares_for, state_path

if TYPE_CHECKING:
    from .dispatch import DispatchResult

__all__ = ["Learning"]


class Learning:
    def __init__(self, settings, ledger_path):
        self.user = UserModel(state_path(ledger_path), shares_for(settings), autosave=False)
        self.estimator = UserEstimator(get_estimator(settings), self.user)

    async def answered(self, request_id: str, text: str, explicit_tier: int | None, decision: Decision,
                       result: "DispatchResult") -> None:
        """Tell the learner what the tier tried did for an answered request it decided (`text`: the
        routed text as sent, flag included)."""
        explicit = explicit_tier is not None or parse_flag(text)[0] is not None
        learned = bool(decision.reasons) and ADAPTED in decision.reasons[0]  # this estimate decided it
        tried = next((a for a in result.attempts if a.outcome != "skipped"), None)
        if tried is None or not (learned or explicit):  # a retry with a tier flag may correct a learned one
            return
        key = hashlib.blake2b(decision.prompt.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
        self.user.tried(request_id, key, tried.hop.tier, self.estimator.features(decision.prompt, "ask"), explicit)
        if learned and tried.hop.tier == decision.tier:
            self.user.answered(request_id, enough=tried.outcome == "ok")
        await self.save()

    async def feedback(self, request_id: str, verdict: str) -> None:
        self.user.feedback(request_id, verdict)
        await self.save()

    async def save(self) -> None:
        state = self.user.snapshot()  # taken on the loop, written off it
        await asyncio.to_thread(self.user.write, state)
