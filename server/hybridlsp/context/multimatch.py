"""Many patterns over a text in one pass, with Hyperscan (Intel's multi-pattern regex matcher).

The secret scan's first stage and the task-keyword test each look for any of a set of patterns;
Python's `re` runs an alternation position by position, or needs one pass per pattern. Hyperscan
compiles the set into one automaton and scans without holding the GIL: 1.5 ms a MB of code for
the secret candidates, against 15-20 ms for `re`'s passes. Its wheel exists for Linux x86-64,
macOS arm64 and Windows x86-64; elsewhere `Background.get` returns None and each caller keeps its
`re` path, which finds the same things (tests compare the two). `HYBRIDLSP_PURE_PYTHON=1` forces
that path.
"""

from __future__ import annotations

import bisect
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

__all__ = ["Background", "PatternSet", "compile_in_background", "imported", "parts_matched"]

_LOCK = threading.Lock()  # the library is imported once, whichever thread asks first
_asked = False  # whether a set has asked for the library yet


def imported() -> bool:
    """Whether a pattern set has asked for Hyperscan yet (its import takes ~16 ms): a caller that
    can do without may wait until another has paid for it."""
    return _asked


@lru_cache(maxsize=1)
def _hyperscan():
    global _asked
    _asked = True
    if os.environ.get("HYBRIDLSP_PURE_PYTHON") == "1":
        return None
    try:
        import hyperscan  # optional (no wheel everywhere), compiled databases: only when a set is built
    except ImportError:  # no wheel for this platform
        return None
    return hyperscan


class PatternSet:
    """A compiled set of byte patterns. `ends(data)`: the offset of the last byte of each match
    (Hyperscan reports where a match ends, at every end it can have)."""

    def __init__(self, hyperscan, patterns: Sequence[bytes]):
        self._hs = hyperscan
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(expressions=list(patterns), ids=list(range(len(patterns))), elements=len(patterns),
                         flags=[0] * len(patterns))
        # A scan lets go of the GIL and scratch space is not shared between concurrent scans:
        # one per thread.
        self._local = threading.local()

    def ends(self, data: bytes) -> list[int]:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._db)
        out: list[int] = []
        self._db.scan(data, match_event_handler=lambda _id, _start, end, _flags, _ctx: out.append(end - 1),
                      scratch=scratch)
        return out

    def matches(self, data: bytes) -> list[tuple[int, int]]:
        """(index of the pattern, offset of the match's last byte) of each match."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._db)
        out: list[tuple[int, int]] = []
        self._db.scan(data, match_event_handler=lambda i, _start, end, _flags, _ctx: out.append((i, end - 1)),
                      scratch=scratch)
        return out


_in_background = False


def compile_in_background() -> None:
    """For a batch command (`route`): pattern sets compile on their own thread while scans take
    their `re` path, instead of the first scan waiting 20-40 ms for them. A server keeps the
    default and compiles on first use: on 2 cores a compile beside a streaming request held that
    request up by ~50 ms (bench 5)."""
    global _in_background
    _in_background = True


class Background:
    """A pattern set compiled on first use, on its own thread. `get()` waits for it, or, after
    `compile_in_background()` (or with wait=False), is None until it is ready: the caller then
    takes its `re` path, which finds the same things."""

    def __init__(self, patterns: Sequence[bytes]):
        self._patterns = list(patterns)
        self._set: PatternSet | None = None
        self._started = False
        self._done = threading.Event()
        self._lock = threading.Lock()

    def get(self, wait: bool | None = None) -> PatternSet | None:
        compiled = self._set  # once compiled, asked on every scan: no Event to ask first
        if compiled is not None:
            return compiled
        if self._done.is_set():
            return self._set
        if wait is None:
            wait = not _in_background
        with self._lock:
            if not self._started:
                self._started = True
                with _LOCK:  # imported on this thread: the import holds the GIL (~16 ms), the compile not
                    hs = _hyperscan()
                if hs is None:
                    self._done.set()
                    return None
                threading.Thread(target=self._build, args=(hs,), name="hybridlsp-patterns", daemon=True).start()
        if wait:
            self._done.wait()
        return self._set

    def _build(self, hs) -> None:
        try:
            self._set = PatternSet(hs, self._patterns)
        finally:
            self._done.set()


def parts_matched(parts: Sequence[bytes], find: Callable[[bytes], Iterable[int]]) -> set[int]:
    """The indices of the `parts` that `find` matches in, from one call on them joined by newlines.
    `find` gives an offset inside each match; no match may cross a newline, so each part keeps
    the matches it has alone and no others."""
    starts = list(itertools.accumulate((len(p) + 1 for p in parts[:-1]), initial=0))
    return {bisect.bisect_right(starts, at) - 1 for at in find(b"\n".join(parts))}
