"""The Store on one SQLite file in WAL mode.

New webhooks go through the group-commit writer (`alert_gateway.sqlite_writer`)
on a connection of their own; everything else (the delivery worker, the HTTP
endpoints that read) goes through a second connection guarded by a lock.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path

from alert_gateway.payload import Notification
from alert_gateway.sqlite_writer import QUEUE_LIMIT, GroupCommitter, connect, rollback
from alert_gateway.store import (
    Accepted,
    DeadLetter,
    DueGroup,
    GroupRecord,
    Pending,
    StoreUnavailable,
    ThreadNote,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    group_key TEXT NOT NULL,
    team TEXT,
    received_at REAL NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS notifications_pending
    ON notifications (group_key, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_delivered
    ON notifications (delivered_at) WHERE state = 'delivered';
CREATE TABLE IF NOT EXISTS groups (
    group_key TEXT PRIMARY KEY,
    channel TEXT,
    ts TEXT,
    team TEXT,
    state TEXT,
    status TEXT,
    firing_since REAL,
    acknowledged_by TEXT,
    acknowledged_at REAL,
    ack_seq INTEGER NOT NULL DEFAULT 0,
    shown_ack_seq INTEGER NOT NULL DEFAULT 0,
    escalated_at REAL,
    escalations INTEGER NOT NULL DEFAULT 0,
    resolved_reply_posted INTEGER NOT NULL DEFAULT 0,
    paging INTEGER NOT NULL DEFAULT 0,
    updated_at REAL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL,
    group_key TEXT NOT NULL,
    channel TEXT,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS thread_notes (
    id INTEGER PRIMARY KEY,
    group_key TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    posted_at REAL
);
CREATE TABLE IF NOT EXISTS heartbeat (id INTEGER PRIMARY KEY, at REAL NOT NULL);
"""


class SqliteStore:
    """The Store on one SQLite file in WAL mode, with group commits of new webhooks."""

    def __init__(
        self,
        path: str | Path,
        *,
        on_commit: Callable[[list[str]], None] | None = None,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = connect(self.path)
        self._conn.executescript(_SCHEMA)
        self._committer = GroupCommitter(
            self.path, on_commit=on_commit, queue_limit=queue_limit
        )

    def set_on_commit(self, callback: Callable[[list[str]], None] | None) -> None:
        """Call `callback` with the group keys of each committed batch of new ones."""
        self._committer.on_commit = callback

    # Accepting webhooks ---------------------------------------------------------

    async def accept(
        self,
        notification: Notification,
        payload: bytes,
        *,
        team: str | None,
        now: float,
    ) -> Accepted:
        """Store a notification; return once the batch holding it is committed."""
        return await self._committer.accept(notification, payload, team=team, now=now)

    def submit(
        self,
        notification: Notification,
        payload: bytes,
        *,
        team: str | None,
        now: float,
    ) -> Future[Accepted]:
        """`accept` for callers outside an event loop: the future resolves on commit."""
        return self._committer.submit(notification, payload, team=team, now=now)

    def writer_alive(self) -> bool:
        return self._committer.alive()

    # Delivery ------------------------------------------------------------------

    def due_groups(self, now: float, *, limit: int = 200) -> list[DueGroup]:
        """Groups whose oldest pending notification is due, oldest first.

        Only the oldest counts: a group's notifications go out in order, so a
        newer one waits while an older one is backing off.
        """
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT n.group_key, n.team, g.channel, n.next_attempt_at"
                f" FROM {_HEADS}"
                " LEFT JOIN groups AS g ON g.group_key = n.group_key"
                " WHERE n.next_attempt_at <= ? ORDER BY n.id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [DueGroup(*row) for row in rows]

    def pending(self, group_key: str, *, limit: int = 500) -> list[Pending]:
        """A group's pending notifications, oldest first."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT id, group_key, team, received_at, attempts, payload"
                " FROM notifications WHERE state = 'pending' AND group_key = ?"
                " ORDER BY id LIMIT ?",
                (group_key, limit),
            ).fetchall()
        return [Pending(*row) for row in rows]

    def next_due_at(self, now: float) -> float | None:
        """The earliest time after `now` when a group's oldest notification is due."""
        with self._reading() as conn:
            (at,) = conn.execute(
                f"SELECT MIN(n.next_attempt_at) FROM {_HEADS}"
                " WHERE n.next_attempt_at > ?",
                (now,),
            ).fetchone()
        return at

    def group(self, group_key: str) -> GroupRecord | None:
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM groups WHERE group_key = ?", (group_key,)
            ).fetchone()
        return None if row is None else _group(row)

    def save_group(
        self,
        record: GroupRecord,
        *,
        delivered: Iterable[int] = (),
        notes: Iterable[str] = (),
    ) -> None:
        """Record a group's message, mark notifications delivered, queue thread notes.

        All in one transaction. Acknowledgement columns are left alone: they
        belong to the Slack actions.
        """
        delivered = list(delivered)
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO groups (group_key, channel, ts, team, state, status,"
                " firing_since, shown_ack_seq, escalated_at, escalations,"
                " resolved_reply_posted, paging, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (group_key) DO UPDATE SET channel = excluded.channel,"
                " ts = excluded.ts, team = excluded.team, state = excluded.state,"
                " status = excluded.status, firing_since = excluded.firing_since,"
                " shown_ack_seq = excluded.shown_ack_seq,"
                " escalated_at = excluded.escalated_at,"
                " escalations = excluded.escalations,"
                " resolved_reply_posted = excluded.resolved_reply_posted,"
                " paging = excluded.paging, updated_at = excluded.updated_at",
                (
                    record.group_key,
                    record.channel,
                    record.ts,
                    record.team,
                    record.state,
                    record.status,
                    record.firing_since,
                    record.shown_ack_seq,
                    record.escalated_at,
                    record.escalations,
                    int(record.resolved_reply_posted),
                    int(record.paging),
                    record.updated_at,
                ),
            )
            conn.executemany(
                "UPDATE notifications SET state = 'delivered', delivered_at = ?"
                " WHERE id = ? AND state = 'pending'",
                [(record.updated_at, notification_id) for notification_id in delivered],
            )
            conn.executemany(
                "INSERT INTO thread_notes (group_key, text, created_at)"
                " VALUES (?, ?, ?)",
                [(record.group_key, text, record.updated_at or 0.0) for text in notes],
            )

    def retry_later(self, ids: Iterable[int], *, at: float, reason: str) -> None:
        with self._writing() as conn:
            conn.executemany(
                "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?,"
                " last_error = ? WHERE id = ? AND state = 'pending'",
                [(at, reason, notification_id) for notification_id in ids],
            )

    def dead_letter(
        self,
        ids: Iterable[int],
        *,
        group_key: str,
        channel: str | None,
        reason: str,
        now: float,
    ) -> None:
        ids = list(ids)
        with self._writing() as conn:
            conn.executemany(
                "UPDATE notifications SET state = 'dead', last_error = ? WHERE id = ?",
                [(reason, notification_id) for notification_id in ids],
            )
            conn.executemany(
                "INSERT INTO dead_letters (notification_id, group_key, channel, reason,"
                " failed_at) VALUES (?, ?, ?, ?, ?)",
                [(i, group_key, channel, reason, now) for i in ids],
            )

    # Slack actions, escalation and notes ------------------------------------------

    def acknowledge(self, group_key: str, *, user: str, now: float) -> bool:
        """Record who acknowledged a group; False when the group is unknown."""
        with self._writing() as conn:
            cursor = conn.execute(
                "UPDATE groups SET acknowledged_by = ?, acknowledged_at = ?,"
                " ack_seq = ack_seq + 1 WHERE group_key = ?",
                (user, now, group_key),
            )
        return cursor.rowcount == 1

    def find_group(self, key_or_digest: str) -> GroupRecord | None:
        """A group by its key, or by `sha256:<hex>` of a key too long for a button."""
        if not key_or_digest.startswith("sha256:"):
            return self.group(key_or_digest)
        digest = key_or_digest.removeprefix("sha256:")
        with self._reading() as conn:
            keys = [key for (key,) in conn.execute("SELECT group_key FROM groups")]
        for key in keys:
            if hashlib.sha256(key.encode()).hexdigest() == digest:
                return self.group(key)
        return None

    def groups_to_refresh(self) -> list[GroupRecord]:
        """Groups whose message does not yet show their latest acknowledgement."""
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM groups"
                " WHERE ack_seq > shown_ack_seq AND ts IS NOT NULL"
            ).fetchall()
        return [_group(row) for row in rows]

    def groups_to_escalate(
        self, *, firing_before: float, escalated_before: float | None
    ) -> list[GroupRecord]:
        """Firing, posted, unacknowledged groups older than `firing_before`.

        A group already escalated comes back only when `escalated_before` is given
        (repeating escalations) and its last escalation is older than that.
        """
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM groups WHERE status = 'firing'"
                " AND paging = 1 AND ts IS NOT NULL AND firing_since <= ?"
                " AND (acknowledged_at IS NULL OR acknowledged_at < firing_since)"
                " AND (escalated_at IS NULL OR escalated_at <= ?)",
                (firing_before, -1.0 if escalated_before is None else escalated_before),
            ).fetchall()
        return [_group(row) for row in rows]

    def add_note(self, group_key: str, text: str, *, now: float) -> None:
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO thread_notes (group_key, text, created_at)"
                " VALUES (?, ?, ?)",
                (group_key, text, now),
            )

    def pending_notes(self) -> list[ThreadNote]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT id, group_key, text, created_at FROM thread_notes"
                " WHERE posted_at IS NULL"
                " ORDER BY id"
            ).fetchall()
        return [ThreadNote(*row) for row in rows]

    def note_posted(self, note_id: int, *, now: float) -> None:
        with self._writing() as conn:
            conn.execute(
                "UPDATE thread_notes SET posted_at = ? WHERE id = ?", (now, note_id)
            )

    # Operating -------------------------------------------------------------------

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT d.id, d.notification_id, d.group_key, d.channel, d.reason,"
                " d.failed_at, n.received_at FROM dead_letters AS d"
                " JOIN notifications AS n ON n.id = d.notification_id"
                " ORDER BY d.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def queue_depth(self) -> int:
        with self._reading() as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM notifications WHERE state = 'pending'"
            ).fetchone()
        return int(count)

    def prune(self, *, delivered_before: float) -> int:
        """Forget delivered notifications older than `delivered_before`.

        They are kept a while so that late retries and HA twins are still recognised.
        """
        with self._writing() as conn:
            cursor = conn.execute(
                "DELETE FROM notifications"
                " WHERE state = 'delivered' AND delivered_at < ?",
                (delivered_before,),
            )
        return cursor.rowcount

    def maintain(self) -> None:
        """Copy committed pages from the WAL into the database, without blocking.

        The writer thread never checkpoints (see `sqlite_writer.connect`), so
        this runs from the delivery worker, which also checkpoints after its
        own commits.
        """
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as error:
                raise StoreUnavailable(str(error)) from None

    def check_writable(self, now: float) -> None:
        """Raise StoreUnavailable unless a write transaction commits now."""
        with self._writing() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO heartbeat (id, at) VALUES (1, ?)", (now,)
            )

    def close(self) -> None:
        """Commit what is queued, then stop the writer and close the connections."""
        self._committer.close()
        with self._lock:
            self._conn.close()

    def _reading(self) -> _Transaction:
        return _Transaction(self._lock, self._conn, write=False)

    def _writing(self) -> _Transaction:
        return _Transaction(self._lock, self._conn, write=True)


class _Transaction:
    """One locked use of the shared connection; errors become StoreUnavailable."""

    def __init__(self, lock: threading.Lock, conn: sqlite3.Connection, *, write: bool):
        self._lock, self._conn, self._write = lock, conn, write

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
        except sqlite3.Error as error:
            self._lock.release()
            raise StoreUnavailable(str(error)) from None
        return self._conn

    def __exit__(self, kind, error, trace) -> bool:
        try:
            if kind is None:
                self._conn.execute("COMMIT")
            else:
                rollback(self._conn)
        except sqlite3.Error as commit_error:
            rollback(self._conn)
            raise StoreUnavailable(str(commit_error)) from None
        finally:
            self._lock.release()
        if isinstance(error, sqlite3.Error):
            raise StoreUnavailable(str(error)) from None
        return False


# The oldest pending notification of each group, through the partial index.
_HEADS = (
    "(SELECT group_key, MIN(id) AS id FROM notifications"
    " WHERE state = 'pending' GROUP BY group_key) AS h"
    " JOIN notifications AS n ON n.id = h.id"
)

_GROUP_COLUMNS = (
    "group_key, channel, ts, team, state, status, firing_since, acknowledged_by,"
    " acknowledged_at, ack_seq, shown_ack_seq, escalated_at, escalations,"
    " resolved_reply_posted, paging, updated_at"
)


def _group(row: tuple[object, ...]) -> GroupRecord:
    record = GroupRecord(*row)  # type: ignore[arg-type]
    record.resolved_reply_posted = bool(record.resolved_reply_posted)
    record.paging = bool(record.paging)
    return record
