"""The stdio transport: messages read by the event loop itself, and written once per loop turn.

pygls' own stdio transport reads every header line and every body in a worker thread (three or
four thread hops a message) and flushes stdout after every message. With 100 requests streaming
at once that was ~5 thread hops and ~7 flushes a request, a good part of the server's CPU a
request. Here stdin is read by asyncio (a pipe or a terminal, as editors and tests give it;
anything else falls back to pygls' reader), and what the handlers of one loop turn send leaves in
one write. Order is kept; a message waits at most for the rest of its turn.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import BinaryIO

from pygls.io_ import StdinAsyncReader, run_async

__all__ = ["TurnWriter", "serve_stdio"]

logger = logging.getLogger(__name__)


class TurnWriter:
    """pygls' writer interface; buffers the messages of one loop turn, then writes them at once."""

    def __init__(self, out: BinaryIO, loop: asyncio.AbstractEventLoop):
        self._out = out
        self._loop = loop
        self._thread = threading.get_ident()
        self._parts: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if threading.get_ident() != self._thread:  # a message sent from a worker thread
            self._loop.call_soon_threadsafe(self.write, data)
            return
        self._parts.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)  # after every callback of this turn

    def flush(self) -> None:
        self._scheduled = False
        if not self._parts:
            return
        data = b"".join(self._parts)
        self._parts.clear()
        try:
            self._out.write(data)
            self._out.flush()
        except (BrokenPipeError, ValueError) as e:  # the client is gone (or closed our end)
            logger.error("connection to the client is lost: %s", e)

    def close(self) -> None:
        self.flush()
        self._out.close()


class _LoopReader:
    """pygls' async reader interface over an asyncio stream: no thread per read."""

    def __init__(self, stream: asyncio.StreamReader):
        self._stream = stream

    async def readline(self) -> bytes:
        return await self._stream.readline()  # b"" at the end of input

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._stream.readexactly(n)
        except asyncio.IncompleteReadError as e:  # the client went away mid-message
            return e.partial


async def _reader(stdin: BinaryIO, executor) -> _LoopReader | StdinAsyncReader:
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(loop=loop)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream, loop=loop), stdin)
    except (ValueError, OSError):  # a regular file, or a platform without pipe transports
        return StdinAsyncReader(stdin, executor)
    return _LoopReader(stream)


def serve_stdio(ls, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """`LanguageServer.start_io`, with the reader and writer above."""
    ls._stop_event = threading.Event()  # what pygls' `shutdown()` sets to end the read loop

    async def run() -> None:
        ls.protocol.set_writer(TurnWriter(stdout, asyncio.get_running_loop()))
        reader = await _reader(stdin, ls.thread_pool)
        await run_async(stop_event=ls._stop_event, reader=reader, protocol=ls.protocol, logger=logger,
                        error_handler=ls.report_server_error)

    try:
        asyncio.run(run())
    except BrokenPipeError:
        logger.error("connection to the client is lost: shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        ls.shutdown()
