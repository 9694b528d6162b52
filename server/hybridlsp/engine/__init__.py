"""One request end to end, LSP-free, as named stages - each its own module:

    prepare -> protect (secrets) -> route -> condense -> budget -> cache -> dispatch (fallback,
    retries, breaker per backend, escalation on the answer's signals) -> record (the one ledger-row
    builder) -> learn (the per-user estimate, when on) -> notify (observers)

`Router` (`route`) only decides: settings and the credential check, no model, no ledger
(`hybridlsp route`). `Engine` (`pipeline`) extends it and runs every stage: `Engine.preview` is the
cheap decision a code-action title shows, `Engine.run` the whole job.
"""
# Names load on first use (PEP 562): `hybridlsp route` imports `engine.route` alone, without what
# calls a model (asyncio, httpx, the ledger), which cost it 50-85 ms, more than deciding 2,000 prompts.

from .. import lazy_names

__all__ = ["Engine", "Router"]

_WHERE = {"Engine": "pipeline", "Router": "route"}

__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
