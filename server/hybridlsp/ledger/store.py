"""The usage ledger: one SQLite file shared by every hybridlsp process of this user.

Never stored: prompt or answer text, API keys, file paths (only hashes keyed by a random
per-ledger secret, so a shared export cannot be matched against guessed paths).

Several editors may run a server each, so writes must be safe across processes: WAL lets
readers run beside a writer, busy_timeout makes a second writer wait instead of failing, and
every write is one short `BEGIN IMMEDIATE` transaction. Within a process one connection is
shared under a lock, because a sqlite3 connection must not be used by two threads at once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

from ..backends.location import local_backends
from ..config import data_dir
from ..errors import UnknownRequest
from .records import (LOCATIONS, OUTCOMES, VALIDATOR_VERDICTS, VERDICTS, Feedback, HopRecord, RequestRecord, Row,
                      size_bucket)

__all__ = ["Ledger", "UnknownRequest", "MIGRATIONS", "RESERVATION_TTL_S", "Reservation", "migration"]

Migration = Callable[[sqlite3.Connection], None]

# The schema moves forward only: append a new named function, never edit an applied one.
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_requests(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('request', 'hop')),
            parent_id TEXT,
            hop INTEGER NOT NULL DEFAULT 0,
            ts TEXT NOT NULL,
            action TEXT NOT NULL,
            tier INTEGER NOT NULL,
            backend TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            tokens_counted INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            ttft_ms REAL,
            cost_usd REAL,
            baseline_cost_usd REAL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            validator TEXT NOT NULL DEFAULT '',
            cached INTEGER NOT NULL DEFAULT 0,
            saved_usd REAL NOT NULL DEFAULT 0,
            size_bucket TEXT NOT NULL DEFAULT '',
            path_hash TEXT,
            workspace_hash TEXT
        )
        """
    )
    db.execute("CREATE INDEX requests_ts ON requests (ts)")
    db.execute("CREATE INDEX requests_parent ON requests (parent_id)")


@migration
def m002_feedback(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE feedback (
            request_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('good', 'bad')),
            note TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX feedback_request ON feedback (request_id)")


@migration
def m003_hash_key(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('hash_key', ?)", (secrets.token_hex(16),))


@migration
def m004_reservations(db: sqlite3.Connection) -> None:
    # cloud money held by requests in flight, in any process of this user (budget.guard)
    db.execute(
        "CREATE TABLE reservations (id TEXT PRIMARY KEY, amount REAL NOT NULL, pid INTEGER NOT NULL, "
        "expires_at TEXT NOT NULL)"
    )


@migration
def m005_escalation_signal(db: sqlite3.Connection) -> None:
    # which answer signal (actions/signals.py) sent an attempt up a tier: "" for any other reason
    db.execute("ALTER TABLE requests ADD COLUMN signal TEXT NOT NULL DEFAULT ''")


@migration
def m006_redacted(db: sqlite3.Connection) -> None:
    # how many secret values a request had redacted before it left (privacy.on_secret = "redact")
    db.execute("ALTER TABLE requests ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0")


@migration
def m007_location(db: sqlite3.Connection) -> None:
    # Where each attempt's prompt went. Named backends make the backend's name no longer say it;
    # rows from before were all built-ins, whose names did.
    db.execute("ALTER TABLE requests ADD COLUMN location TEXT NOT NULL DEFAULT 'cloud'")
    built_in_local = ", ".join(f"'{b}'" for b in sorted(local_backends()))
    db.execute(f"UPDATE requests SET location = 'local' WHERE backend IN ({built_in_local})")


RESERVATION_TTL_S = 1800.0  # a reservation left by a killed process lapses after this, at the latest


@dataclass(frozen=True)
class Reservation:
    """The outcome of `Ledger.reserve_cloud`: an id when it fitted, else which cap it would pass."""

    id: str | None
    month_spent: float
    day_spent: float
    reserved: float  # by every request in flight, in any process, before this one
    refused_by: str = ""  # "monthly" or "daily"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


def _utc(now: datetime | None) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    now = now or datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _usd(total: float) -> float:
    """A sum of dollar amounts, to the billionth: sums of floats miss round figures (ten requests of
    $0.08 sum to 0.7999999999999999), and a cap or its 80 % warning must hold at exactly that spend."""
    return round(float(total), 9)


def _iso(ts: datetime | None = None) -> str:
    """One fixed format (UTC, microseconds) so timestamps compare correctly as strings in SQL."""
    return _utc(ts).isoformat(timespec="microseconds")


_ROW_FIELDS = tuple(f.name for f in fields(Row))
_BOOL_AT = tuple(_ROW_FIELDS.index(name) for name in ("tokens_counted", "cached"))  # stored as 0/1
def _location(location: str, backend: str) -> str:
    """The caller's word for where the prompt went; a built-in backend's name says it otherwise."""
    if not location:
        return "local" if backend in local_backends() else "cloud"
    if location not in LOCATIONS:
        raise ValueError(f"location must be one of {LOCATIONS}, not {location!r}")
    return location


def _attempt_columns(rec: RequestRecord | HopRecord) -> dict:
    """The columns a request row and a hop row share: the attempt, what it cost, where it went."""
    if rec.tier not in (0, 1, 2, 3):
        raise ValueError(f"tier must be 0-3, not {rec.tier!r}")
    return dict(
        action=rec.action, tier=rec.tier, backend=rec.backend, model=rec.model, input_tokens=rec.input_tokens,
        output_tokens=rec.output_tokens, tokens_counted=int(rec.tokens_counted), latency_ms=rec.latency_ms,
        ttft_ms=rec.ttft_ms, cost_usd=rec.cost_usd, reason=rec.reason, size_bucket=size_bucket(rec.input_tokens),
        location=_location(rec.location, rec.backend), signal=rec.signal,
    )


def _row(values: tuple) -> Row:
    values = list(values)
    for i in _BOOL_AT:
        values[i] = bool(values[i])
    return Row(*values)


class Ledger:
    """Open (creating and migrating as needed) the ledger at `path`, default data_dir()/ledger.sqlite3."""

    # A tuple so a subclass can extend it (tests do) without touching the module list.
    migrations: tuple[Migration, ...] = tuple(MIGRATIONS)

    def __init__(self, path: str | Path | None = None, *, busy_timeout_ms: int = 10_000):
        self.path = Path(path) if path is not None else data_dir() / "ledger.sqlite3"
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # re-entered by the writes of a `batch`
        self._batched = False  # inside `batch`: each write is a savepoint of its transaction
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions stay short and explicit
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._set_wal(busy_timeout_ms / 1000)
            # NORMAL is corruption-safe in WAL; a power cut may lose only the last few rows
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
            key = self._db.execute("SELECT value FROM meta WHERE key = 'hash_key'").fetchone()[0]
        except BaseException:
            self._db.close()
            raise
        self._hash_key = bytes.fromhex(key)

    def _set_wal(self, timeout_s: float) -> None:
        # Switching journal mode needs an exclusive lock and SQLite may answer "locked" without
        # waiting on busy_timeout when several processes open a new file at once; retry briefly.
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every row recorded inside the block (by this thread): a write that
        fails is undone alone (a savepoint each) and raises as usual; the rest commit together at
        the end of the block. Many requests finishing at once cost one commit instead of one each.
        A batch opened inside a batch is one part of it, undone whole when it raises."""
        with self._write():  # the transaction; inside a batch, a savepoint of it
            outer, self._batched = not self._batched, True
            try:
                yield
            finally:
                if outer:
                    self._batched = False

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._batched:
                self._db.execute("SAVEPOINT one_write")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK TO one_write")
                    self._db.execute("RELEASE one_write")
                    raise
                self._db.execute("RELEASE one_write")
                return
            self._db.execute("BEGIN IMMEDIATE")  # take the write lock now, not half-way through
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        names = [fn.__name__ for fn in self.migrations]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate migration names: {names}")
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
            for fn in self.migrations:
                if fn.__name__ not in done:
                    fn(db)
                    db.execute("INSERT INTO _migrations VALUES (?, ?)", (fn.__name__, _iso()))

    def applied_migrations(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT name FROM _migrations ORDER BY rowid")]

    def _hash(self, value: str) -> str | None:
        if not value:
            return None
        return hashlib.blake2b(value.encode(), key=self._hash_key, digest_size=8).hexdigest()

    def _insert(self, db: sqlite3.Connection, values: dict) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" * len(values))
        try:
            db.execute(f"INSERT INTO requests ({cols}) VALUES ({marks})", tuple(values.values()))
        except sqlite3.IntegrityError:
            raise ValueError(f"row {values['id']!r} is already in the ledger") from None

    def record_request(self, rec: RequestRecord, ts: datetime | None = None) -> str:
        """Record a request's last attempt (see `RequestRecord`); return its id."""
        if rec.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {rec.outcome!r}")
        if rec.validator not in VALIDATOR_VERDICTS:
            raise ValueError(f"validator must be one of {VALIDATOR_VERDICTS}, not {rec.validator!r}")
        attempt = _attempt_columns(rec)
        request_id = rec.request_id or uuid.uuid4().hex
        with self._write() as db:
            self._insert(
                db,
                dict(
                    id=request_id, kind="request", parent_id=None, hop=0, ts=_iso(ts), **attempt,
                    baseline_cost_usd=rec.baseline_cost_usd, outcome=rec.outcome, validator=rec.validator,
                    cached=int(rec.outcome == "cache-hit"), saved_usd=rec.saved_usd,
                    path_hash=self._hash(rec.path), workspace_hash=self._hash(rec.workspace), redacted=rec.redacted,
                ),
            )
        return request_id

    def record_hop(self, rec: HopRecord, ts: datetime | None = None) -> str:
        """Record an earlier attempt of request `rec.parent_id` that fell back (see `HopRecord`);
        return its id. Hops are numbered 1, 2, ... in the order recorded; the request row may come later."""
        attempt = _attempt_columns(rec)
        hop_id = uuid.uuid4().hex
        with self._write() as db:
            # numbered inside the write transaction, so two writers cannot take the same number
            n = db.execute("SELECT COUNT(*) FROM requests WHERE parent_id = ?", (rec.parent_id,)).fetchone()[0]
            self._insert(
                db,
                dict(id=hop_id, kind="hop", parent_id=rec.parent_id, hop=n + 1, ts=_iso(ts), **attempt,
                     outcome="fallback"),
            )
        return hop_id

    def record_feedback(self, request_id: str, verdict: str, note: str = "") -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        with self._write() as db:
            known = db.execute(
                "SELECT 1 FROM requests WHERE id = ? AND kind = 'request'", (request_id,)
            ).fetchone()
            if not known:
                raise UnknownRequest(request_id, self.path)
            db.execute("INSERT INTO feedback VALUES (?, ?, ?, ?)", (request_id, _iso(), verdict, note))

    @staticmethod
    def _spend_in(db: sqlite3.Connection, start: datetime, end: datetime) -> float:
        # Cloud is where the prompt went, not the tier: any tier may be configured with a cloud
        # backend, and a local tier's hardware cost is not money a budget cap should count.
        (total,) = db.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM requests "
            "WHERE ts >= ? AND ts < ? AND location = 'cloud'",
            (_iso(start), _iso(end)),
        ).fetchone()
        return _usd(total)

    @staticmethod
    def _month(now: datetime | None) -> tuple[datetime, datetime]:
        start = _utc(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return start, (start + timedelta(days=32)).replace(day=1)

    @staticmethod
    def _day(now: datetime | None) -> tuple[datetime, datetime]:
        start = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)

    def month_cloud_spend(self, now: datetime | None = None) -> float:
        """Cloud USD spent in the calendar month (UTC, as providers bill) that contains `now`."""
        with self._lock:
            return self._spend_in(self._db, *self._month(now))

    def day_cloud_spend(self, now: datetime | None = None) -> float:
        """Cloud USD spent on the UTC day that contains `now`."""
        with self._lock:
            return self._spend_in(self._db, *self._day(now))

    def reserve_cloud(self, amount: float, monthly_cap: float, daily_cap: float, *,
                      ttl_s: float = RESERVATION_TTL_S, now: datetime | None = None) -> Reservation:
        """Hold `amount` USD against the caps (0 = none) if the recorded spend, plus what every
        process holds, plus `amount` stays within them: one write transaction, so two processes
        cannot both take the last room. Reservations of dead processes, or past `ttl_s`, are dropped."""
        now = _utc(now)
        with self._write() as db:
            db.execute("DELETE FROM reservations WHERE expires_at < ?", (_iso(now),))
            for (pid,) in db.execute("SELECT DISTINCT pid FROM reservations WHERE pid != ?", (os.getpid(),)).fetchall():
                if not _pid_alive(pid):
                    db.execute("DELETE FROM reservations WHERE pid = ?", (pid,))
            (reserved,) = db.execute("SELECT COALESCE(SUM(amount), 0) FROM reservations").fetchone()
            month, day = self._spend_in(db, *self._month(now)), self._spend_in(db, *self._day(now))
            for name, cap, spent in (("monthly", monthly_cap, month), ("daily", daily_cap, day)):
                if cap and _usd(spent + reserved + amount) > cap:
                    return Reservation(None, month, day, float(reserved), name)
            rid = uuid.uuid4().hex
            db.execute("INSERT INTO reservations VALUES (?, ?, ?, ?)",
                       (rid, amount, os.getpid(), _iso(now + timedelta(seconds=ttl_s))))
        return Reservation(rid, month, day, float(reserved))

    def release_cloud(self, reservation_id: str) -> None:
        """Drop a reservation: its request's real cost is in the ledger now, or it failed."""
        with self._write() as db:
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation_id,))

    def reserved_cloud(self) -> float:
        """USD held by requests in flight, in every process."""
        with self._lock:
            (total,) = self._db.execute("SELECT COALESCE(SUM(amount), 0) FROM reservations").fetchone()
        return float(total)

    def rows(self, since: datetime | None = None) -> list[Row]:
        """Every request and hop row from `since` on, oldest first."""
        with self._lock:
            cur = self._db.cursor()
            cur.row_factory = None  # plain tuples in Row's field order: 10x faster on a big ledger
            raw = cur.execute(
                f"SELECT {', '.join(_ROW_FIELDS)} FROM requests WHERE ts >= ? ORDER BY ts, rowid",
                (_iso(since) if since else "",),
            ).fetchall()
        return [_row(values) for values in raw]

    def feedback(self, since: datetime | None = None) -> list[Feedback]:
        with self._lock:
            raw = self._db.execute(
                "SELECT request_id, ts, verdict, note FROM feedback WHERE ts >= ? ORDER BY ts, rowid",
                (_iso(since) if since else "",),
            ).fetchall()
        return [Feedback(**dict(r)) for r in raw]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
