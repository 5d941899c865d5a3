"""Accepting webhooks: one writer thread that commits them in batches.

The writer commits whatever has arrived while its previous commit was running
as one transaction (a group commit): each request waits for its batch's
commit and only then answers 200, so many requests share one fsync.
Also how the gateway opens its SQLite connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from alert_gateway.payload import Notification
from alert_gateway.store import Accepted, StoreUnavailable

log = logging.getLogger(__name__)

_MAX_BATCH = 512
QUEUE_LIMIT = 20_000
_CACHE_KIB = 32 * 1024
# How long a waiting connection retries a locked database before failing.
_BUSY_TIMEOUT_MS = 5_000


@dataclass
class _Submission:
    """One notification waiting for a commit, and who waits for the outcome."""

    row: tuple[object, ...]
    future: Future[Accepted] | None = None
    waiter: asyncio.Future[Accepted] | None = None


_STOP = object()


class GroupCommitter:
    """The writer thread, its queue, and who hears of each committed batch."""

    def __init__(
        self,
        path: str,
        *,
        on_commit: Callable[[list[str]], None] | None = None,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self.on_commit = on_commit
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_limit)
        self._writer = threading.Thread(
            target=self._write_loop,
            args=(connect(path, checkpoints=False),),
            daemon=True,
            name="store-writer",
        )
        self._writer.start()

    async def accept(
        self,
        notification: Notification,
        payload: bytes,
        *,
        team: str | None,
        now: float,
    ) -> Accepted:
        """Queue a notification; return once the batch holding it is committed."""
        waiter = asyncio.get_running_loop().create_future()
        self._enqueue(
            _Submission(_row(notification, payload, team, now), waiter=waiter)
        )
        return await waiter

    def submit(
        self,
        notification: Notification,
        payload: bytes,
        *,
        team: str | None,
        now: float,
    ) -> Future[Accepted]:
        """`accept` for callers outside an event loop: the future resolves on commit."""
        future: Future[Accepted] = Future()
        self._enqueue(
            _Submission(_row(notification, payload, team, now), future=future)
        )
        return future

    def alive(self) -> bool:
        return self._writer.is_alive()

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        if self._writer.is_alive():
            self._queue.put(_STOP)
            self._writer.join(timeout=10)

    def _enqueue(self, submission: _Submission) -> None:
        if not self._writer.is_alive():
            raise StoreUnavailable("the store's writer has stopped")
        try:
            self._queue.put_nowait(submission)
        except queue.Full:
            raise StoreUnavailable(
                "too many notifications waiting to be stored"
            ) from None

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put_nowait(_STOP)
                    break
                batch.append(item)
            self._commit_batch(conn, batch)  # type: ignore[arg-type]
        conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Submission]) -> None:
        results: list[Accepted] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for submission in batch:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO notifications (dedup_key, group_key, team,"
                    " received_at, payload, next_attempt_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    submission.row,
                )
                inserted = cursor.rowcount == 1
                results.append(
                    Accepted(cursor.lastrowid if inserted else None, not inserted)
                )
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            rollback(conn)
            log.error("commit failed", extra={"batch": len(batch), "error": str(error)})
            failure = StoreUnavailable(str(error))
            _settle(batch, [failure] * len(batch))
            return

        # The delivery side hears of new notifications before anyone is answered.
        arrived = [
            submission.row[1]
            for submission, result in zip(batch, results, strict=True)
            if not result.duplicate
        ]
        if self.on_commit is not None and arrived:
            self.on_commit(arrived)  # type: ignore[arg-type]
        _settle(batch, results)


def connect(path: str, *, checkpoints: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    if not checkpoints:
        # Copying the WAL back into the database would stall the webhooks
        # waiting on this connection's commits; the other connection does it.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA journal_mode = WAL")
    # A 200 tells Alertmanager it may forget the notification, so a commit must
    # survive a power cut, not only a crash of the process: NORMAL in WAL mode
    # may lose the last commits on power loss, FULL syncs the WAL at each
    # commit. Group commits share that sync among every request of a batch.
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _row(
    notification: Notification, payload: bytes, team: str | None, now: float
) -> tuple[object, ...]:
    return (notification.dedup_key(), notification.group_key, team, now, payload, now)


def _settle(
    batch: list[_Submission], outcomes: Sequence[Accepted | StoreUnavailable]
) -> None:
    # One wake-up per event loop and batch rather than one per request.
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, object]]] = {}
    for submission, outcome in zip(batch, outcomes, strict=True):
        if submission.waiter is not None:
            loop = submission.waiter.get_loop()
            by_loop.setdefault(loop, []).append((submission.waiter, outcome))
        elif submission.future is not None and isinstance(outcome, Exception):
            submission.future.set_exception(outcome)
        elif submission.future is not None:
            submission.future.set_result(outcome)  # type: ignore[arg-type]
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[asyncio.Future, object]]) -> None:
    for waiter, outcome in pairs:
        if waiter.done():  # the client went away and the request was cancelled
            continue
        if isinstance(outcome, Exception):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


def rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
