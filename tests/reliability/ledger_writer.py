"""One ledger writer process for the durability test.

    python -m tests.reliability.ledger_writer DB WRITER N REPORT GO

Opens the ledger, writes "ready" to REPORT, waits for the file GO to exist (so all writers start
together), then records N requests (every tenth after a fallback hop). After each commit returns
it appends the request's id to REPORT with one unbuffered write(2): an id in REPORT is a row
SQLite said was committed, which must survive a SIGKILL of this process at any moment.
"""

from __future__ import annotations

import os
import sys
import time

from hybridlsp.ledger.records import HopRecord, RequestRecord
from hybridlsp.ledger.store import Ledger

COST = 0.001  # per request row, so the report's spend can be checked exactly


def main(db: str, writer: str, n: int, report: str, go: str) -> None:
    fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with Ledger(db) as ledger:
        os.write(fd, b"ready\n")
        while not os.path.exists(go):
            time.sleep(0.001)
        for i in range(n):
            rid = f"w{writer}-{i:05d}"
            if i % 10 == 0:
                ledger.record_hop(HopRecord(rid, action="ask", tier=1, backend="ollama", model="m", reason="timeout"))
            ledger.record_request(RequestRecord(
                action="ask", tier=3, backend="openai", model="gpt-4.1", input_tokens=10, output_tokens=5,
                latency_ms=1.0, cost_usd=COST, baseline_cost_usd=2 * COST, request_id=rid,
                outcome="fallback" if i % 10 == 0 else "ok", reason="timeout" if i % 10 == 0 else ""))
            os.write(fd, rid.encode() + b"\n")
    os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
