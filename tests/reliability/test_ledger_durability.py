"""The ledger under concurrent writers, one of them killed with SIGKILL half-way through.

Eight processes (ledger_writer.py) write 1,000 requests each into one SQLite file at once; each
reports an id only after its commit returned. One is killed half-way. Then: every reported id is
in the file (no committed row lost), the survivors' rows are all there, `PRAGMA integrity_check`
says ok, the ledger opens and takes writes again, and the report counts and sums what is there.
"""

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from hybridlsp.ledger.records import RequestRecord
from hybridlsp.ledger.report import compute_report
from hybridlsp.ledger.store import Ledger

from .ledger_writer import COST

WRITERS = 8
ROWS = 1000
VICTIM = "3"
ROOT = Path(__file__).resolve().parents[2]


def _ids(report: Path) -> list[str]:
    return [ln for ln in report.read_text().splitlines() if ln.startswith("w")]


def test_eight_writers_one_killed_no_committed_row_lost(tmp_path, figures):
    db, go = tmp_path / "ledger.sqlite3", tmp_path / "go"
    Ledger(db).close()  # created and migrated once, as the first server would
    reports = {str(w): tmp_path / f"writer{w}.txt" for w in range(WRITERS)}
    procs = {
        w: subprocess.Popen([sys.executable, "-m", "tests.reliability.ledger_writer", str(db), w, str(ROWS),
                             str(path), str(go)], cwd=ROOT, stderr=subprocess.PIPE)
        for w, path in reports.items()
    }
    deadline = time.monotonic() + 60
    while not all(p.exists() and p.read_text().startswith("ready") for p in reports.values()):
        assert time.monotonic() < deadline, "writers did not start"
        time.sleep(0.01)
    t0 = time.monotonic()
    go.touch()
    while len(_ids(reports[VICTIM])) < ROWS // 2:
        assert procs[VICTIM].poll() is None, "the victim finished before it could be killed"
        assert time.monotonic() < deadline, "the victim is stuck"
        time.sleep(0.002)
    procs[VICTIM].send_signal(signal.SIGKILL)
    codes = {w: p.wait(timeout=120) for w, p in procs.items()}
    elapsed = time.monotonic() - t0
    errors = {w: p.stderr.read().decode()[-2000:] for w, p in procs.items() if codes[w] != 0 and w != VICTIM}
    assert codes[VICTIM] == -signal.SIGKILL
    assert errors == {}, errors

    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        in_db = {r[0] for r in raw.execute("SELECT id FROM requests WHERE kind = 'request'")}
        hops = raw.execute("SELECT parent_id, hop FROM requests WHERE kind = 'hop'").fetchall()
    reported = {w: _ids(path) for w, path in reports.items()}
    lost = [rid for ids in reported.values() for rid in ids if rid not in in_db]
    assert lost == [], f"{len(lost)} committed rows lost, e.g. {lost[:5]}"
    per_writer = Counter(rid.split("-")[0][1:] for rid in in_db)
    for w in reports:
        if w != VICTIM:
            assert per_writer[w] == ROWS and len(reported[w]) == ROWS
    killed_at = len(reported[VICTIM])
    # the victim may have committed one row it did not live to report, never fewer than it reported
    assert killed_at <= per_writer[VICTIM] <= killed_at + 1
    assert all(n == 1 for _, n in hops)  # hop numbering stayed consistent under contention

    with Ledger(db) as ledger:  # opens (recovering the WAL) and takes writes again
        ledger.record_request(RequestRecord(action="ask", tier=1, backend="ollama", model="m", input_tokens=1, output_tokens=1,
                              latency_ms=1, cost_usd=0.0, baseline_cost_usd=0.0, request_id="after"))
        rows, feedback = ledger.rows(), ledger.feedback()
    report = compute_report(rows, feedback)
    total = len(in_db) + 1
    assert report.requests == total and report.errors == 0
    assert abs(report.cloud_spend_usd - COST * len(in_db)) < 1e-9
    assert abs(report.baseline_usd - 2 * COST * len(in_db)) < 1e-9
    hop_parents = {p for p, _ in hops}
    assert report.metric("fallback rate").value == len(hop_parents & in_db) / total

    figures["ledger durability"] = (
        f"{WRITERS} writers x {ROWS} rows in {elapsed:.1f} s, writer {VICTIM} SIGKILLed after {killed_at} reported "
        f"commits ({per_writer[VICTIM]} in the file); {len(in_db)} request rows, 0 committed rows lost, "
        "integrity_check ok, report totals exact"
    )
