"""The names this server adds to LSP: its request, its commands and its code-action kind."""

__all__ = ["RUN_REQUEST", "RUN_COMMAND", "FEEDBACK_COMMAND", "KIND_PREFIX"]

RUN_REQUEST = "hybridlsp/run"
RUN_COMMAND = "hybridlsp.run"
FEEDBACK_COMMAND = "hybridlsp.feedback"
KIND_PREFIX = "refactor.hybridlsp"
