"""`hybridlsp serve`: the language server, on stdio (default) or TCP."""

from __future__ import annotations

from ..lsp.server import serve


def add_parser(sub) -> None:
    s = sub.add_parser("serve", help="run the language server (stdio by default)")
    s.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP instead of stdio")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--stdio", action="store_true", help="(default) speak LSP on stdin/stdout")
    s.set_defaults(fn=run)


def run(args) -> int:
    serve(transport="tcp" if args.tcp else "stdio", host=args.host, port=args.tcp)
    return 0
