"""What the gateway keeps, as records, and the narrow Store it keeps them in.

`Store` is all the rest of the gateway may ask of storage, so that a backend
for several replicas (PostgreSQL) can follow the SQLite one
(`alert_gateway.sqlite_store`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from alert_gateway.payload import Notification


class StoreUnavailable(Exception):
    """Raised when the store cannot take or give data now (queue full, disk, lock)."""


@dataclass(frozen=True)
class Accepted:
    """The outcome of storing one notification."""

    notification_id: int | None
    duplicate: bool


@dataclass(frozen=True)
class Pending:
    """A stored notification not yet delivered."""

    id: int
    group_key: str
    team: str | None
    received_at: float
    attempts: int
    payload: bytes

    def notification(self) -> Notification:
        return Notification.model_validate_json(self.payload)


@dataclass(frozen=True)
class DueGroup:
    """A group with a notification due, and its channel once it has a message."""

    group_key: str
    team: str | None
    channel: str | None
    next_attempt_at: float


@dataclass
class GroupRecord:
    """What the gateway knows of one alert group and its Slack message."""

    group_key: str
    channel: str | None = None
    ts: str | None = None
    team: str | None = None
    state: str | None = None
    status: str | None = None
    firing_since: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_seq: int = 0
    shown_ack_seq: int = 0
    escalated_at: float | None = None
    escalations: int = 0
    # Set once the resolved reply is queued as a thread note, posted or not.
    resolved_reply_posted: bool = False
    paging: bool = False
    updated_at: float | None = None

    @property
    def current_acknowledgement(self) -> str | None:
        """Who acknowledged the group's current firing episode, if anyone did."""
        if self.acknowledged_at is None or self.acknowledged_by is None:
            return None
        if self.firing_since is not None and self.acknowledged_at < self.firing_since:
            return None
        return self.acknowledged_by


@dataclass(frozen=True)
class DeadLetter:
    id: int
    notification_id: int
    group_key: str
    channel: str | None
    reason: str
    failed_at: float
    received_at: float


@dataclass(frozen=True)
class ThreadNote:
    """A reply waiting to be posted in a group's thread, oldest first."""

    id: int
    group_key: str
    text: str
    created_at: float


class Store(Protocol):
    """What the gateway needs from storage; a PostgreSQL backend implements the same."""

    def set_on_commit(self, callback: Callable[[list[str]], None] | None) -> None: ...

    def writer_alive(self) -> bool: ...

    async def accept(
        self,
        notification: Notification,
        payload: bytes,
        *,
        team: str | None,
        now: float,
    ) -> Accepted: ...

    def due_groups(self, now: float, *, limit: int) -> list[DueGroup]: ...

    def pending(self, group_key: str, *, limit: int) -> list[Pending]: ...

    def next_due_at(self, now: float) -> float | None: ...

    def group(self, group_key: str) -> GroupRecord | None: ...

    def save_group(
        self,
        record: GroupRecord,
        *,
        delivered: Iterable[int] = (),
        notes: Iterable[str] = (),
    ) -> None: ...

    def retry_later(self, ids: Iterable[int], *, at: float, reason: str) -> None: ...

    def dead_letter(
        self,
        ids: Iterable[int],
        *,
        group_key: str,
        channel: str | None,
        reason: str,
        now: float,
    ) -> None: ...

    def acknowledge(self, group_key: str, *, user: str, now: float) -> bool: ...

    def find_group(self, key_or_digest: str) -> GroupRecord | None: ...

    def groups_to_refresh(self) -> list[GroupRecord]: ...

    def groups_to_escalate(
        self, *, firing_before: float, escalated_before: float | None
    ) -> list[GroupRecord]: ...

    def add_note(self, group_key: str, text: str, *, now: float) -> None: ...

    def pending_notes(self) -> list[ThreadNote]: ...

    def note_posted(self, note_id: int, *, now: float) -> None: ...

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]: ...

    def queue_depth(self) -> int: ...

    def prune(self, *, delivered_before: float) -> int: ...

    def maintain(self) -> None: ...

    def check_writable(self, now: float) -> None: ...

    def close(self) -> None: ...
