"""`+` and `-` on a hit: this session's marks, the hits a `-` hides, the writes still to do.

A mark names the query as its caption, so only text searches can be marked. A `-` hit stays
hidden for its query until the app closes (the file keeps the mark for training, not for
hiding: a later session shows every hit again). Writes go to the feedback file
(`vidsearch.train.feedback`) from worker threads, oldest first: each worker writes whichever
mark has waited longest, so marks land in the order they were made whichever thread runs
first, and the file's "later mark wins" means what the user did last.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

from textual.message import Message

from vidsearch.errors import VidsearchError
from vidsearch.search import Hit
from vidsearch.train.feedback import Mark, append_mark

HitKey = tuple[str, float, float]  # path, start, end: what a later search of the query shows too


def hit_key(hit: Hit) -> HitKey:
    return hit.path, hit.start, hit.end


class FeedbackSession:
    """Marks made in one TUI session. Safe to call from the UI and from workers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._marks: dict[tuple[str, HitKey], bool] = {}  # (query, hit) -> negative
        self._hidden: dict[str, set[HitKey]] = {}
        self._pending: deque[Mark] = deque()
        self._write_lock = threading.Lock()  # held while a mark is written: one at a time

    def mark(self, query: str, hit: Hit, *, negative: bool) -> bool:
        """Record a mark to be written (then `write_next`); False when this session already
        made the same mark, which is not written twice."""
        key = hit_key(hit)
        with self._lock:
            if self._marks.get((query, key)) is negative:
                return False
            self._marks[(query, key)] = negative
            if negative:
                self._hidden.setdefault(query, set()).add(key)
            self._pending.append(Mark(hit.path, query, hit.start, hit.end, negative))
            return True

    def hidden_count(self, query: str | None) -> int:
        with self._lock:
            return len(self._hidden.get(query, ())) if query is not None else 0

    def visible(self, query: str | None, hits: list[Hit]) -> list[Hit]:
        """`hits` without those a `-` hid for `query`."""
        with self._lock:
            hidden = set(self._hidden.get(query, ())) if query is not None else set()
        return [hit for hit in hits if hit_key(hit) not in hidden]

    def write_next(self) -> Mark | None:
        """Append the oldest mark not yet written; raises the writer's VidsearchError. A mark
        that failed is dropped and forgotten, so pressing its key again tries again (a hit it
        hid stays hidden: the user said it is wrong)."""
        with self._write_lock:
            with self._lock:
                if not self._pending:
                    return None
                mark = self._pending.popleft()
            try:
                append_mark(self.path, mark)
            except VidsearchError:
                with self._lock:
                    key = (mark.query, (mark.video, mark.start, mark.end))
                    if self._marks.get(key) is mark.negative:
                        del self._marks[key]
                raise
            return mark


class FeedbackFailed(Message):
    """A mark could not be written; the error says to which file and why."""

    def __init__(self, error: VidsearchError) -> None:
        super().__init__()
        self.error = error
