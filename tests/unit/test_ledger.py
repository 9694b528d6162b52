import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hybridlsp.ledger.records import HopRecord, RequestRecord
from hybridlsp.errors import HybridError
from hybridlsp.ledger import Ledger, Row, UnknownRequest, compute_report

BASE_MIGRATIONS = ["m001_requests", "m002_feedback", "m003_hash_key", "m004_reservations", "m005_escalation_signal",
                   "m006_redacted", "m007_location"]


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        yield led


def record(led: Ledger, **kw) -> str:
    args = dict(
        action="complete", tier=1, backend="ollama", model="qwen2.5-coder:14b", input_tokens=100,
        output_tokens=20, latency_ms=800.0, cost_usd=0.0, baseline_cost_usd=0.0004,
    )
    ts = kw.pop("ts", None)
    return led.record_request(RequestRecord(**{**args, **kw}), ts=ts)


# --- opening and migrations -------------------------------------------------------------------


def test_default_path_honours_hybridlsp_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIDLSP_HOME", str(tmp_path / "home"))
    with Ledger() as led:
        assert led.path == tmp_path / "home" / "ledger.sqlite3"
    assert led.path.is_file()


def test_file_is_in_wal_mode(ledger):
    db = sqlite3.connect(ledger.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_migrations_apply_once_in_order(tmp_path):
    path = tmp_path / "l.sqlite3"
    for _ in range(2):
        with Ledger(path) as led:
            assert led.applied_migrations() == BASE_MIGRATIONS


calls: list[str] = []


def m008_add_editor(db):
    calls.append("m008")
    db.execute("ALTER TABLE requests ADD COLUMN editor TEXT")  # needs m001 to have run first


class ExtendedLedger(Ledger):
    migrations = Ledger.migrations + (m008_add_editor,)


def test_added_migration_is_applied_once_on_an_existing_file(tmp_path):
    path = tmp_path / "l.sqlite3"
    calls.clear()
    with Ledger(path) as led:
        rid = record(led)
    for _ in range(2):
        with ExtendedLedger(path) as led:
            assert led.applied_migrations() == BASE_MIGRATIONS + ["m008_add_editor"]
            assert [r.id for r in led.rows()] == [rid]  # existing rows survive
    assert calls == ["m008"]
    db = sqlite3.connect(path)
    assert "editor" in [c[1] for c in db.execute("PRAGMA table_info(requests)")]
    db.close()


def test_fresh_file_applies_extended_list_in_order(tmp_path):
    calls.clear()
    with ExtendedLedger(tmp_path / "l.sqlite3") as led:
        assert led.applied_migrations() == [fn.__name__ for fn in ExtendedLedger.migrations]
    assert calls == ["m008"]


def m008_breaks(db):
    db.execute("CREATE TABLE half_done (x)")
    raise RuntimeError("boom")


def test_failed_migration_leaves_nothing_behind(tmp_path):
    path = tmp_path / "l.sqlite3"
    Ledger(path).close()

    class Broken(Ledger):
        migrations = Ledger.migrations + (m008_breaks,)

    with pytest.raises(RuntimeError, match="boom"):
        Broken(path)
    db = sqlite3.connect(path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "half_done" not in tables
    with Ledger(path) as led:
        assert led.applied_migrations() == BASE_MIGRATIONS


def test_an_escalation_hop_keeps_its_signal_and_an_older_file_gains_the_column(tmp_path):
    path = tmp_path / "l.sqlite3"

    class Before(Ledger):  # a ledger written before the signal column existed
        migrations = Ledger.migrations[:4]

    with Before(path):
        pass
    db = sqlite3.connect(path)  # a row as the code before the column wrote it
    db.execute("INSERT INTO requests (id, kind, hop, ts, action, tier, backend, model, outcome) "
               "VALUES ('old', 'request', 0, '2025-01-01T00:00:00.000000+00:00', 'ask', 1, 'ollama', 'm', 'ok')")
    db.commit()
    db.close()
    old = "old"
    with Ledger(path) as led:
        rid = record(led, action="ask", outcome="fallback")
        led.record_hop(HopRecord(rid, action="ask", tier=1, backend="ollama", model="m", reason="low-confidence",
                                 signal="arithmetic"))
        led.record_hop(HopRecord(rid, action="ask", tier=2, backend="ollama", model="n", reason="timeout"))
        every = led.rows()
    hops = {r.tier: r for r in every if r.kind == "hop"}
    assert hops[1].signal == "arithmetic" and hops[1].reason == "low-confidence"
    assert hops[2].signal == ""
    assert [r.signal for r in every if r.id == old] == [""]


def test_duplicate_migration_names_are_refused(tmp_path):
    class Doubled(Ledger):
        migrations = Ledger.migrations + (Ledger.migrations[0],)

    with pytest.raises(ValueError, match="duplicate"):
        Doubled(tmp_path / "l.sqlite3")


# --- recording -------------------------------------------------------------------------------


def test_request_round_trip(ledger):
    ts = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
    rid = record(
        ledger, action="review", tier=3, backend="openai", model="gpt-4.1", input_tokens=3000,
        output_tokens=400, latency_ms=2500.5, ttft_ms=300.0, cost_usd=0.0092, baseline_cost_usd=0.0092,
        outcome="fallback", tokens_counted=True, reason="invalid-answer", validator="pass", ts=ts,
        request_id="abc123",
    )
    assert rid == "abc123"
    [row] = ledger.rows()
    assert row == Row(
        id="abc123", ts="2025-03-15T12:00:00.000000+00:00", action="review", tier=3, backend="openai",
        model="gpt-4.1", cost_usd=0.0092, kind="request", parent_id=None, hop=0, input_tokens=3000,
        output_tokens=400, tokens_counted=True, latency_ms=2500.5, ttft_ms=300.0, baseline_cost_usd=0.0092,
        outcome="fallback", reason="invalid-answer", validator="pass", cached=False, saved_usd=0.0,
        size_bucket="m", path_hash=None, workspace_hash=None, location="cloud",
    )


def test_hop_round_trip(ledger):
    ts = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
    hop_id = ledger.record_hop(HopRecord(
        "abc123", action="ask", tier=1, backend="lab", model="q", reason="low-confidence", cost_usd=None,
        input_tokens=600, output_tokens=30, tokens_counted=True, latency_ms=900.0, ttft_ms=120.0,
        location="local", signal="self-doubt",
    ), ts=ts)
    [row] = ledger.rows()
    assert row == Row(
        id=hop_id, ts="2025-03-15T12:00:00.000000+00:00", action="ask", tier=1, backend="lab", model="q",
        cost_usd=None, kind="hop", parent_id="abc123", hop=1, input_tokens=600, output_tokens=30,
        tokens_counted=True, latency_ms=900.0, ttft_ms=120.0, outcome="fallback", reason="low-confidence",
        size_bucket="s", location="local", signal="self-doubt",
    )


@pytest.mark.parametrize("bad, match", [({"tier": 4}, "tier"), ({"location": "elsewhere"}, "location")])
def test_invalid_hop_fields_are_refused(ledger, bad, match):
    hop = dict(action="ask", tier=1, backend="ollama", model="m", reason="timeout")
    with pytest.raises(ValueError, match=match):
        ledger.record_hop(HopRecord("r", **{**hop, **bad}))
    assert ledger.rows() == []


def test_where_the_prompt_went_decides_cloud_spend_not_the_backends_name(ledger):
    # a named local server ("lab") is hardware time; a named cloud one ("azure") is cloud money
    record(ledger, backend="lab", model="q", cost_usd=0.5, location="local")
    record(ledger, backend="azure", model="gpt-4.1", cost_usd=0.25, location="cloud")
    record(ledger, backend="ollama", model="gpt-oss:120b-cloud", cost_usd=0.125, location="cloud")
    assert ledger.month_cloud_spend() == pytest.approx(0.375)
    assert [r.local for r in ledger.rows()] == [True, False, False]
    with pytest.raises(ValueError, match="location"):
        record(ledger, location="elsewhere")


@pytest.mark.parametrize("applied", ["m004_reservations", "m005_escalation_signal", "m006_redacted"])
def test_rows_from_before_the_location_column_get_their_backends_place(tmp_path, applied):
    path = tmp_path / "old.sqlite3"
    names = [fn.__name__ for fn in Ledger.migrations]

    class Before(Ledger):
        migrations = Ledger.migrations[: names.index(applied) + 1]

    Before(path).close()  # a file as an older hybridlsp left it, with two rows in it
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "INSERT INTO requests (id, kind, ts, action, tier, backend, model, cost_usd, outcome) VALUES "
            "('a', 'request', '2025-01-01', 'ask', 1, 'ollama', 'm', 0.1, 'ok'), "
            "('b', 'request', '2025-01-01', 'ask', 3, 'openai', 'gpt-4.1', 0.2, 'ok')")
    db.close()
    with Ledger(path) as led:
        assert led.applied_migrations() == BASE_MIGRATIONS
        assert [(r.id, r.location) for r in led.rows()] == [("a", "local"), ("b", "cloud")]


def test_generated_ids_are_uuid_hex(ledger):
    rid = record(ledger)
    assert len(rid) == 32 and int(rid, 16) >= 0


@pytest.mark.parametrize(
    "tokens, bucket", [(0, "xs"), (499, "xs"), (500, "s"), (1999, "s"), (2000, "m"), (8000, "l"), (32000, "xl")]
)
def test_size_bucket_is_stored(ledger, tokens, bucket):
    record(ledger, input_tokens=tokens)
    assert ledger.rows()[0].size_bucket == bucket


def test_cache_hit_sets_cached(ledger):
    record(ledger, outcome="cache-hit", saved_usd=0.01)
    row = ledger.rows()[0]
    assert (row.cached, row.saved_usd) == (True, 0.01)


def test_unknown_price_is_stored_as_none(ledger):
    record(ledger, backend="openai", model="private-model", cost_usd=None, baseline_cost_usd=None)
    row = ledger.rows()[0]
    assert (row.cost_usd, row.baseline_cost_usd) == (None, None)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"outcome": "done"}, "outcome"),
        ({"tier": 4}, "tier"),
        ({"tier": -1}, "tier"),
        ({"validator": "maybe"}, "validator"),
    ],
)
def test_invalid_request_fields_are_refused(ledger, bad, match):
    with pytest.raises(ValueError, match=match):
        record(ledger, **bad)
    assert ledger.rows() == []


def test_duplicate_request_id_is_refused(ledger):
    record(ledger, request_id="same")
    with pytest.raises(ValueError, match="already in the ledger"):
        record(ledger, request_id="same")


def test_paths_are_stored_only_as_keyed_hashes(tmp_path):
    path = tmp_path / "l.sqlite3"
    secret_path = "/home/alice/acme-secret-project/.env.production"
    workspace = "/home/alice/acme-secret-project"
    with Ledger(path) as led:
        record(led, path=secret_path, workspace=workspace)
        first = led.rows()[0]
    with Ledger(path) as led:  # the key persists, so the same path hashes the same way later
        record(led, path=secret_path, workspace=workspace)
        second = led.rows()[1]
    with Ledger(tmp_path / "other.sqlite3") as other:  # ...but differently in another ledger
        record(other, path=secret_path)
        elsewhere = other.rows()[0]
    assert len(first.path_hash) == 16 and first.path_hash != first.workspace_hash
    assert second.path_hash == first.path_hash
    assert elsewhere.path_hash != first.path_hash
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"acme-secret-project" not in on_disk


def test_hops_are_numbered_and_linked(ledger):
    h1 = ledger.record_hop(HopRecord("req1", action="review", tier=1, backend="ollama", model="small",
                                     reason="timeout"))
    h2 = ledger.record_hop(HopRecord(
        "req1", action="review", tier=2, backend="ollama", model="big", reason="invalid-answer",
        cost_usd=0.002, latency_ms=4000.0, input_tokens=900, output_tokens=50,
    ))
    ledger.record_hop(HopRecord("other", action="ask", tier=1, backend="ollama", model="small", reason="unavailable"))
    record(ledger, request_id="req1", tier=3, backend="openai", outcome="fallback")
    rows = {r.id: r for r in ledger.rows()}
    assert (rows[h1].kind, rows[h1].parent_id, rows[h1].hop, rows[h1].reason) == ("hop", "req1", 1, "timeout")
    assert (rows[h2].hop, rows[h2].cost_usd, rows[h2].outcome) == (2, 0.002, "fallback")
    assert [r.hop for r in rows.values() if r.parent_id == "other"] == [1]
    assert (rows["req1"].kind, rows["req1"].hop, rows["req1"].parent_id) == ("request", 0, None)


# --- feedback --------------------------------------------------------------------------------


def test_feedback_is_recorded_in_order(ledger):
    rid = record(ledger)
    ledger.record_feedback(rid, "bad", "made up an API")
    ledger.record_feedback(rid, "good")
    assert [(f.request_id, f.verdict, f.note) for f in ledger.feedback()] == [
        (rid, "bad", "made up an API"),
        (rid, "good", ""),
    ]


@pytest.mark.parametrize("target", ["no-such-id", "hop"])
def test_feedback_to_unknown_request_is_a_clear_error(ledger, target):
    hop_id = ledger.record_hop(HopRecord("r", action="ask", tier=1, backend="ollama", model="m", reason="timeout"))
    request_id = hop_id if target == "hop" else target  # a hop is not something a user rates
    with pytest.raises(UnknownRequest, match="no request .* in the ledger") as err:
        ledger.record_feedback(request_id, "bad")
    assert isinstance(err.value, HybridError) and isinstance(err.value, LookupError)
    assert ledger.feedback() == []


def test_feedback_verdict_is_checked(ledger):
    rid = record(ledger)
    with pytest.raises(ValueError, match="verdict"):
        ledger.record_feedback(rid, "meh")


# --- spend -----------------------------------------------------------------------------------

# (ts, backend, tier, kind, cost): amounts are powers of two so the sums are exact
SPEND_ROWS = [
    ("2025-03-01T00:00:00", "openai", 3, "request", 1.0),
    ("2025-03-15T00:00:00", "anthropic", 3, "request", 0.5),
    ("2025-03-15T10:00:00", "openai", 3, "hop", 0.25),  # a cloud hop that broke mid-stream still cost
    ("2025-03-15T11:00:00", "openai", 1, "request", 0.125),  # tier 1 configured on a cloud backend
    ("2025-03-15T11:00:00", "ollama", 2, "request", 64.0),  # hardware time is not cloud spend
    ("2025-03-15T11:00:00", "embedded", 0, "request", 64.0),
    ("2025-03-15T11:00:00", "openai", 3, "request", None),  # unknown price
    ("2025-02-28T23:59:59", "openai", 3, "request", 2.0),  # last month
    ("2025-03-16T04:00:00", "openai", 3, "request", 8.0),
    ("2025-04-01T00:00:00", "openai", 3, "request", 16.0),  # next month
    ("2025-12-31T23:00:00", "openai", 3, "request", 32.0),
    ("2026-01-01T00:00:00", "openai", 3, "request", 128.0),
]


@pytest.fixture
def spend_ledger(ledger):
    for i, (ts, backend, tier, kind, cost) in enumerate(SPEND_ROWS):
        when = datetime.fromisoformat(ts).replace(tzinfo=UTC)
        if kind == "hop":
            ledger.record_hop(HopRecord(f"p{i}", action="ask", tier=tier, backend=backend, model="m",
                                        reason="stream-broken", cost_usd=cost), ts=when)
        else:
            record(ledger, tier=tier, backend=backend, cost_usd=cost, ts=when)
    return ledger


@pytest.mark.parametrize(
    "now, month, day",
    [
        (datetime(2025, 3, 15, 12, 0, tzinfo=UTC), 9.875, 0.875),
        (datetime(2025, 3, 15, 12, 0), 9.875, 0.875),  # naive means UTC
        (datetime(2025, 3, 1, 0, 0, tzinfo=UTC), 9.875, 1.0),
        # 23:30 in UTC-5 is already the 16th in UTC
        (datetime(2025, 3, 15, 23, 30, tzinfo=timezone(timedelta(hours=-5))), 9.875, 8.0),
        (datetime(2025, 2, 10, tzinfo=UTC), 2.0, 0.0),
        (datetime(2025, 12, 31, 23, 30, tzinfo=UTC), 32.0, 32.0),
        (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), 128.0, 128.0),
        (datetime(2024, 1, 1, tzinfo=UTC), 0.0, 0.0),
    ],
)
def test_cloud_spend_counts_cloud_backends_in_the_period(spend_ledger, now, month, day):
    assert spend_ledger.month_cloud_spend(now) == month
    assert spend_ledger.day_cloud_spend(now) == day


def test_spend_defaults_to_now(ledger):
    record(ledger, backend="openai", tier=3, cost_usd=0.5)
    assert ledger.month_cloud_spend() == 0.5
    assert ledger.day_cloud_spend() == 0.5


def test_rows_since(spend_ledger):
    since = datetime(2025, 12, 1, tzinfo=UTC)
    assert [r.ts[:10] for r in spend_ledger.rows(since)] == ["2025-12-31", "2026-01-01"]
    assert len(spend_ledger.rows()) == len(SPEND_ROWS)


def test_report_reads_the_ledger(ledger):
    a = record(ledger, tier=1)
    record(ledger, tier=3, backend="openai", cost_usd=0.01, baseline_cost_usd=0.01)
    ledger.record_feedback(a, "bad")
    report = compute_report(ledger.rows(), ledger.feedback())
    assert (report.requests, report.tier_shares, report.feedback_bad) == (2, {1: 0.5, 3: 0.5}, 1)
    assert report.cloud_spend_usd == 0.01


# --- concurrency -----------------------------------------------------------------------------


def test_threads_share_one_ledger(ledger):
    def write(n):
        for i in range(50):
            record(ledger, request_id=f"t{n}-{i}")
            if i % 10 == 0:
                ledger.record_hop(HopRecord("shared", action="ask", tier=1, backend="ollama", model="m", reason="timeout"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = ledger.rows()
    assert sum(r.kind == "request" for r in rows) == 400
    assert sorted(r.hop for r in rows if r.parent_id == "shared") == list(range(1, 41))


MID_MARCH = datetime(2025, 3, 15, tzinfo=UTC)


def _write_from_process(path: str, worker: int, n: int, start) -> None:
    start.wait()  # all open the fresh file together, so they race to set WAL and migrate it
    with Ledger(path) as led:
        for i in range(n):
            record(led, request_id=f"w{worker}-{i}", backend="openai", tier=3, cost_usd=0.5, ts=MID_MARCH)
            if i % 20 == 0:
                led.record_hop(HopRecord("shared", action="ask", tier=1, backend="ollama", model="m", reason="timeout"))


def test_processes_write_concurrently(tmp_path):
    path = str(tmp_path / "ledger.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_write_from_process, args=(path, w, 200, start)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=90)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with Ledger(path) as led:
        rows = led.rows()
        assert led.applied_migrations() == BASE_MIGRATIONS
        assert led.month_cloud_spend(MID_MARCH) == 400.0
    requests = {r.id for r in rows if r.kind == "request"}
    assert requests == {f"w{w}-{i}" for w in range(4) for i in range(200)}
    assert sorted(r.hop for r in rows if r.parent_id == "shared") == list(range(1, 41))
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_cloud_reservations_fit_the_caps_and_lapse(tmp_path):
    import subprocess
    import sys

    with Ledger(tmp_path / "l.sqlite3") as led:
        a = led.reserve_cloud(0.6, monthly_cap=1.0, daily_cap=0.0)
        assert a.id and a.reserved == 0.0 and led.reserved_cloud() == pytest.approx(0.6)
        b = led.reserve_cloud(0.6, monthly_cap=1.0, daily_cap=0.0)
        assert b.id is None and b.refused_by == "monthly" and b.reserved == pytest.approx(0.6)
        assert led.reserve_cloud(0.6, monthly_cap=0.0, daily_cap=0.5).refused_by == "daily"
        led.release_cloud(a.id)
        assert led.reserved_cloud() == 0.0 and led.reserve_cloud(0.6, 1.0, 0.0).id
        # a reservation left by a killed process: dropped once its process is gone...
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
        with led._write() as db:
            db.execute("INSERT INTO reservations VALUES ('x', 5.0, ?, '9999-01-01T00:00:00+00:00')", (int(dead),))
        assert led.reserve_cloud(0.1, 1.0, 0.0).id and led.reserved_cloud() == pytest.approx(0.7)
        # ...and any, this process's included, once past its time limit
        later = datetime.now(UTC) + timedelta(hours=1)
        assert led.reserve_cloud(0.9, 1.0, 0.0, now=later).reserved == 0.0


@pytest.mark.parametrize("cost, n", [(0.1, 8), (0.1, 10), (0.08, 10), (0.07, 3)])
def test_cloud_spend_is_the_round_sum_of_its_costs(ledger, cost, n):
    # summed as floats, eight $0.10 rows are 0.7999999999999999: a cap or a warning at $0.80 would not hold
    for _ in range(n):
        record(ledger, backend="openai", model="gpt-4.1", cost_usd=cost)
    assert ledger.month_cloud_spend() == ledger.day_cloud_spend() == round(cost * n, 2)


def test_a_reservation_that_reaches_the_cap_exactly_fits(ledger):
    record(ledger, backend="openai", model="gpt-4.1", cost_usd=0.1)
    assert ledger.reserve_cloud(0.2, 0.3, 0.0).id  # 0.1 + 0.2 is 0.30000000000000004 in floating point
    assert ledger.reserve_cloud(0.01, 0.3, 0.0).refused_by == "monthly"
