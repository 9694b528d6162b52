"""The loopback-only rule: refuse any name lookup or connection that is not to 127.0.0.0/8 or ::1.

Standard library only: `_guard/sitecustomize.py` loads this file by path in every Python process a
benchmark starts (the language server, the fake upstreams, the commands it times), so the rule holds
there too, not only in the process running the benchmark. Refused hosts are appended, one a line, to
the file named by BENCH_LOOPBACK_LOG, so the harness can report them.
"""

from __future__ import annotations

import os
import socket

__all__ = ["LOG_ENV", "install", "is_loopback", "uninstall"]

LOG_ENV = "BENCH_LOOPBACK_LOG"

_real = (socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex)
_refused: list[list[str]] = []  # the lists of the guards installed now


def is_loopback(host) -> bool:
    if host is None:  # getaddrinfo(None, port): the local wildcard
        return True
    h = host.decode() if isinstance(host, bytes) else str(host)
    if h in ("localhost", "::1") or (h.startswith("127.") and h.count(".") == 3 and h.replace(".", "").isdigit()):
        return True
    import ipaddress  # only for an unusual spelling: every Python process a benchmark starts loads this file

    try:
        return ipaddress.ip_address(h.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(host, what: str) -> OSError:
    for refused in _refused:
        refused.append(str(host))
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{host}\n")
    return ConnectionRefusedError(f"bench: only loopback traffic (refused {what} {host})")


def _getaddrinfo(host, *args, **kwargs):
    if not is_loopback(host):
        raise _refuse(host, "a lookup of")
    return _real[0](host, *args, **kwargs)


def _check(sock, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
        raise _refuse(address[0], "a connection to")


def _connect(sock, address):
    _check(sock, address)
    return _real[1](sock, address)


def _connect_ex(sock, address):
    _check(sock, address)
    return _real[2](sock, address)


def install(refused: list[str] | None = None) -> None:
    """Guard this process; `refused`, if given, collects the hosts refused until `uninstall`."""
    _refused.append(refused if refused is not None else [])
    socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = _getaddrinfo, _connect, _connect_ex


def uninstall() -> None:
    _refused.pop()
    if not _refused:
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = _real
