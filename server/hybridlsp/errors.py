"""Every error hybridlsp raises on purpose, with a message a person can act on.

    HybridError
    ├── ConfigError                 a setting is invalid (names the key and the file)
    ├── BackendError                one backend failed one attempt (names the backend, says the fix)
    │   ├── BackendUnavailable      connection refused / closed before an answer
    │   ├── BackendTimeout          a limit passed: connect, first token, silence mid-stream, total
    │   ├── RateLimited             HTTP 429 (carries retry_after seconds)
    │   ├── ServerError             HTTP 5xx
    │   ├── ContextLengthExceeded   the prompt does not fit the model's window
    │   ├── StreamBroken            the stream was cut or malformed half-way
    │   ├── MissingCredentials      a cloud backend has no API key
    │   ├── AuthError               HTTP 401/403
    │   └── BadRequest              any other 4xx
    ├── ValidationFailed            an answer came back but fails the action's validator
    ├── NotARepository              a git action outside a repository
    ├── NothingStaged               a commit message with nothing staged
    ├── UnknownRequest              feedback for a request the ledger does not hold
    └── AllTiersFailed              every hop of the chain failed (carries the hops)

Escalation in the dispatcher is decided by the class, never by parsing messages.
"""

from __future__ import annotations

__all__ = [
    "HybridError",
    "ConfigError",
    "BackendError",
    "BackendUnavailable",
    "BackendTimeout",
    "RateLimited",
    "ServerError",
    "ContextLengthExceeded",
    "StreamBroken",
    "MissingCredentials",
    "AuthError",
    "BadRequest",
    "ValidationFailed",
    "NotARepository",
    "NothingStaged",
    "UnknownRequest",
    "AllTiersFailed",
]


class HybridError(Exception):
    """Base of every error hybridlsp raises on purpose."""


class ConfigError(HybridError):
    def __init__(self, key: str, problem: str, source: str | None = None):
        self.key = key
        self.problem = problem
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"setting '{key}'{where}: {problem}")


class BackendError(HybridError):
    """One attempt against one backend failed. `reason` is a short tag for ledgers and fallbacks."""

    reason = "error"

    def __init__(self, backend: str, detail: str, fix: str = ""):
        self.backend = backend
        self.detail = detail
        self.fix = fix
        msg = f"{backend}: {detail}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class BackendUnavailable(BackendError):
    """`connected`: the connection was made and then closed before an answer (not refused)."""

    reason = "unavailable"

    def __init__(self, backend: str, detail: str, fix: str = "", connected: bool = False):
        super().__init__(backend, detail, fix)
        self.connected = connected


class BackendTimeout(BackendError):
    """`limit` names which one passed: connect | first-token | silence | total ("" when unknown)."""

    reason = "timeout"

    def __init__(self, backend: str, detail: str, fix: str = "", limit: str = ""):
        super().__init__(backend, detail, fix)
        self.limit = limit


class RateLimited(BackendError):
    reason = "rate-limited"

    def __init__(self, backend: str, detail: str, fix: str = "", retry_after: float | None = None):
        super().__init__(backend, detail, fix)
        self.retry_after = retry_after


class ServerError(BackendError):
    reason = "server-error"


class ContextLengthExceeded(BackendError):
    reason = "context-length"


class StreamBroken(BackendError):
    reason = "stream-broken"


class MissingCredentials(BackendError):
    reason = "no-key"


class AuthError(BackendError):
    reason = "auth"


class BadRequest(BackendError):
    reason = "bad-request"


class ValidationFailed(HybridError):
    reason = "invalid-answer"

    def __init__(self, action: str, problem: str):
        self.action = action
        self.problem = problem
        super().__init__(f"{action} answer rejected: {problem}")


class NotARepository(HybridError):
    def __init__(self, where: str):
        super().__init__(f"{where or 'this folder'} is not inside a git repository")


class NothingStaged(HybridError):
    def __init__(self):
        super().__init__("nothing is staged: stage your changes with `git add` first")


class UnknownRequest(HybridError, LookupError):
    def __init__(self, request_id: str, path):
        self.request_id = request_id
        super().__init__(
            f"no request {request_id!r} in the ledger at {path}: "
            "feedback needs the request_id that came back with the answer"
        )


class AllTiersFailed(HybridError):
    def __init__(self, hops: list[tuple[str, str]]):
        # hops: (backend/model label, message)
        self.hops = hops
        lines = "; ".join(f"{who}: {msg}" for who, msg in hops)
        super().__init__(f"every tier failed: {lines}")
