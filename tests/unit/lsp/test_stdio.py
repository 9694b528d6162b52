"""The stdio transport's writer: one write a loop turn, messages in the order they were sent."""

import asyncio
import io
import threading

from hybridlsp.lsp.stdio import TurnWriter


class Counting(io.BytesIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, data):
        self.writes += 1
        return super().write(data)


async def test_the_messages_of_one_turn_leave_in_one_write_in_order():
    out = Counting()
    w = TurnWriter(out, asyncio.get_running_loop())
    for i in range(5):
        w.write(b"m%d;" % i)
    assert out.getvalue() == b""  # nothing before the turn ends
    await asyncio.sleep(0)
    assert out.getvalue() == b"m0;m1;m2;m3;m4;" and out.writes == 1
    w.write(b"m5;")
    await asyncio.sleep(0)
    assert out.getvalue().endswith(b"m4;m5;") and out.writes == 2


async def test_a_message_from_a_worker_thread_goes_through_the_loop():
    out = Counting()
    w = TurnWriter(out, asyncio.get_running_loop())
    w.write(b"first;")
    t = threading.Thread(target=w.write, args=(b"second;",))
    t.start()
    t.join()
    for _ in range(3):
        await asyncio.sleep(0)
    assert out.getvalue() == b"first;second;"


async def test_close_sends_what_is_pending():
    out = Counting()
    w = TurnWriter(out, asyncio.get_running_loop())
    w.write(b"last;")
    data = []
    out.close = lambda: data.append(out.getvalue())  # what was written before the stream closed
    w.close()
    assert data == [b"last;"]
