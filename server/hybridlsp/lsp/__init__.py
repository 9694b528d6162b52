"""The language server: the only package that imports pygls and lsprotocol."""

from .server import HybridLanguageServer, build_server, serve

__all__ = ["HybridLanguageServer", "build_server", "serve"]
