"""The cache stage: an exact repeat of a request is answered at no cost, in this process or another.

Two layers. In memory, per process: the language server repeats requests within seconds (a code
action run twice, a re-opened hover). On disk, `answers.sqlite3` beside the ledger, shared by every
hybridlsp process of the user: the command line and the git hook start a new process each time, so
only the file lets `hybridlsp commit-msg --hook` answer a retried commit from the first attempt.

What the file holds: a key (SHA-256 of who answered - the backend instance and the model - and the
messages, so no prompt text) and the validated answer with its usage. An answer is kept only under
the model that produced it, and a request is looked up under the model it was decided for: a
fallback's answer (the embedded model's, while Ollama was down) is never served to a request
decided for the tier that failed, which answers again once it is back.

The file is kept apart from the ledger, which never stores text and is meant to be exported; this
file is never exported. Answers to private requests (a secret in the
text, a local-only path) are never written to it, only kept in memory. A cache must never slow a
request down: a lookup is one point read (in WAL mode readers do not wait for writers), a write is
queued for the store's own thread, a write that waits more than `_BUSY_S` for another process is
dropped, and a damaged file is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..backends.hosts import origin_of
from ..routing.types import Hop

__all__ = ["AnswerCache", "AnswerStore", "answer_key", "answerer", "key_for", "store_beside"]

log = logging.getLogger(__name__)

_BUSY_S = 0.25
_PRUNE_EVERY = 64  # writes between two prunes of expired and surplus rows


def answerer(hop: Hop, settings) -> str:
    """Who answers `hop`: the backend, where it runs (two Ollama hosts with one model name are two
    answerers) and the model."""
    return f"{hop.backend}@{origin_of(hop.backend, settings) or 'in-process'}/{hop.model}"


def answer_key(answerer: str, messages) -> str:
    """The cache key of `answerer`'s answer to `messages` (see `answerer`)."""
    h = hashlib.sha256(answerer.encode())
    for m in messages:
        h.update(b"\x00" + m.role.encode() + b"\x00" + m.content.encode())
    return h.hexdigest()


class AnswerStore:
    """The on-disk layer: one SQLite file, WAL, each call a short statement; errors are misses."""

    def __init__(self, path: str | Path, max_rows: int = 5_000, clock=time.time):
        self.path = Path(path)
        self.max_rows = max_rows
        self.clock = clock
        self._lock = threading.Lock()  # the writer's connection
        # Lookups have a connection of their own: the writer's lock is held while it waits up to
        # _BUSY_S for another process's write lock, and a lookup on the event loop must not wait too.
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._queue_lock = threading.Lock()  # the answers waiting for the writer thread
        self._queued: list[tuple[str, dict, float]] = []
        self._writes = 0
        self._writer: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=_BUSY_S)
            os.chmod(self.path, 0o600)  # answers are the user's alone (SQLite gives the -wal file the same mode)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, created REAL NOT NULL, "
                       "value TEXT NOT NULL)")
            self._db = db
        except (sqlite3.Error, OSError) as e:
            log.warning("answer cache file %s unusable, keeping answers in memory only: %s", self.path, e)

    def get(self, key: str, ttl_s: float) -> dict | None:
        """A point read: in WAL mode a reader never waits for another process's writer."""
        if self._db is None:
            return None
        try:
            with self._read_lock:
                if self._reader is None:
                    self._reader = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                                   timeout=_BUSY_S)
                row = self._reader.execute("SELECT created, value FROM answers WHERE key = ?", (key,)).fetchone()
            if row is None or self.clock() - row[0] > ttl_s:
                return None
            value = json.loads(row[1])
            return value if isinstance(value, dict) else None
        except (sqlite3.Error, ValueError) as e:
            log.warning("answer cache read failed, treating as a miss: %s", e)
            return None

    def put(self, key: str, value: dict, ttl_s: float) -> None:
        """Queued for the store's own writer thread: the request that answered does not wait."""
        if self._db is None:
            return
        with self._queue_lock:
            self._queued.append((key, value, ttl_s))
            if len(self._queued) > 1:
                return  # the write already submitted takes this answer too
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="hybridlsp-answers")
        self._writer.submit(self._put_queued)

    def _put_queued(self) -> None:
        """Every answer queued by the time the file is free, in one transaction: a commit of its own
        each cost six times the insert (27 us of CPU against 4), and 100 requests finishing together
        queue 100. An error skips the batch (a cache write is best effort: a later miss asks again)."""
        with self._lock:
            with self._queue_lock:
                batch, self._queued = self._queued, []
            if self._db is None or not batch:
                return
            try:
                self._db.execute("BEGIN")
                try:
                    for key, value, ttl_s in batch:
                        self._put(key, value, ttl_s)
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                log.warning("answer cache write skipped (%d answers): %s", len(batch), e)

    def _put(self, key: str, value: dict, ttl_s: float) -> None:
        now = self.clock()
        self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", (key, now, json.dumps(value)))
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 1:
            self._db.execute("DELETE FROM answers WHERE created < ?", (now - ttl_s,))
            # the surplus query sorts the whole table (3 ms at 1,500 rows); a count is 0.1 ms, and
            # below the cap there is no surplus to find
            if self._db.execute("SELECT count(*) FROM answers").fetchone()[0] > self.max_rows:
                self._db.execute("DELETE FROM answers WHERE key NOT IN "
                                 "(SELECT key FROM answers ORDER BY created DESC LIMIT ?)", (self.max_rows,))

    def close(self) -> None:
        """Waits for queued writes, then closes the file."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


class AnswerCache:
    """Memory first, then the store; a private answer stays in memory."""

    def __init__(self, ttl_s: float, store: AnswerStore | None = None, clock=time.monotonic,
                 max_entries: int = 512):
        self.ttl = ttl_s
        self.store = store
        self.clock = clock
        self.max = max_entries
        self._d: dict[str, tuple[float, dict]] = {}

    def get(self, key: str) -> dict | None:
        hit = self._d.get(key)
        if hit is not None and self.clock() - hit[0] <= self.ttl:
            return hit[1]
        self._d.pop(key, None)
        value = self.store.get(key, self.ttl) if self.store is not None else None
        if value is not None:
            self._remember(key, value)
        return value

    def put(self, key: str, value: dict, *, private: bool) -> None:
        self._remember(key, value)
        if self.store is not None and not private:
            self.store.put(key, value, self.ttl)

    def _remember(self, key: str, value: dict) -> None:
        if len(self._d) >= self.max:
            self._d.pop(next(iter(self._d)))
        self._d[key] = (self.clock(), value)


def key_for(action, settings, hop: Hop, messages) -> str | None:
    """The cache key of `hop`'s answer to `messages`, or None when its action or the settings cache
    nothing. Looked up under the decided hop, kept under the hop that answered."""
    if not (action.cacheable and settings.cache.enabled):
        return None
    return answer_key(answerer(hop, settings), messages)


def store_beside(ledger, settings) -> AnswerStore | None:
    """The shared answer file beside the ledger; none for an in-memory ledger (tests, benches)."""
    path = getattr(ledger, "path", None)
    if not settings.cache.persist or path is None or str(path) == ":memory:":
        return None
    return AnswerStore(Path(path).parent / "answers.sqlite3")
