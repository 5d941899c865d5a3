"""Rotations and instants for the rotation maths tests, built in a line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alert_gateway.oncall import (
    OnCall,
    Rotation,
    handoff_at,
    schedule,
)

MEMBERS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL"}


def fields(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "platform-oncall",
        "time_zone": "Europe/Madrid",
        "start": "2026-03-27",
        "handoff": "09:00",
        "shift": "daily",
        "members": MEMBERS,
        "layers": [
            {"name": "primary", "order": ["alice", "bob", "carol"]},
            {"name": "secondary", "order": ["bob", "carol", "alice"]},
        ],
    }
    values.update(changes)
    return values


def rotation(**changes: Any) -> Rotation:
    return Rotation.model_validate(fields(**changes))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def override(
    start: str = "2026-12-24T09:00:00+01:00",
    end: str = "2026-12-26T09:00:00+01:00",
    **changes: Any,
) -> dict[str, Any]:
    values = {"layer": "primary", "member": "carol", "from": start, "to": end}
    return {**values, **changes}


def instants(text: str, year: int = 2026) -> list[datetime]:
    """UTC instants written by hand as "MM-DD HH:MM, MM-DD HH:MM, ..." in `year`."""
    return [
        datetime.fromisoformat(f"{year}-{item.strip()}+00:00")
        for item in text.split(",")
    ]


def handoffs(subject: Rotation, count: int) -> list[datetime]:
    return [handoff_at(subject, index) for index in range(count)]


def primary_shifts(subject: Rotation, start: datetime, end: datetime) -> list[OnCall]:
    return [
        entry for entry in schedule(subject, start, end) if entry.layer == "primary"
    ]
