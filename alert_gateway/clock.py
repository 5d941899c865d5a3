"""Time as the gateway reads it, so that tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch; tests pass a clock they move."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
