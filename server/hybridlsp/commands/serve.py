"""`hybridlsp serve`: the language server, on stdio (default) or TCP."""

from __future__ import annotations

import sys

from ..lsp.server import serve


def add_parser(sub) -> None:
    s = sub.add_parser("serve", help="run the language server (stdio by default)")
    s.add_argument("--tcp", type=_port, metavar="PORT",
                   help="listen on TCP instead of stdio (0: a free port, said on stderr)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--stdio", action="store_true", help="(default) speak LSP on stdin/stdout")
    s.set_defaults(fn=run)


def run(args) -> int:
    if args.tcp is None:  # port 0 is a port too: the system picks it
        serve(transport="stdio")
    else:
        serve(transport="tcp", host=args.host, port=args.tcp, listening=_say_where)
    return 0


def _port(value: str) -> int:
    import argparse  # only when there is a command line to parse: `serve` alone starts without it

    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0: any free one), not {port}")
    return port


def _say_where(addresses: list[tuple[str, int]]) -> None:
    """On stderr, which over TCP is free: the line a client started with `--tcp 0` waits for."""
    where = ", ".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in addresses)
    print(f"hybridlsp: listening on {where}", file=sys.stderr, flush=True)
