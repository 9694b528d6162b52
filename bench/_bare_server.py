"""The smallest pygls 2 language server: the start-up benchmark's peer. Run as a script."""

from pygls.lsp.server import LanguageServer

if __name__ == "__main__":
    LanguageServer("bare", "0").start_io()
