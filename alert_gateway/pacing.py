"""How often the gateway may write to each Slack channel.

One ChannelPacer is shared by the delivery worker, which asks it what may go
now and when to look again, and by the Slack sink, which claims a slot for each
call and records Slack's answers; two separate paces would refuse each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ChannelPacer:
    """At most one message per `min_interval` seconds per channel, and Retry-After.

    Channels may be known under a name (`#alerts`) and under the id Slack
    answers with (`C0123ABCD`); `alias` makes both share one pace.
    """

    def __init__(
        self, min_interval: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_allowed: dict[str, float] = {}
        self._workspace_next_allowed = 0.0
        self._aliases: dict[str, str] = {}

    def wait_time(self, channel: str) -> float:
        """Seconds to wait before the next message to `channel` (0 when it may go)."""
        with self._lock:
            key = self._key(channel)
            allowed = max(
                self._next_allowed.get(key, 0.0), self._workspace_next_allowed
            )
            return max(0.0, allowed - self._clock())

    def next_allowed_in(self) -> float | None:
        """Seconds until the first held channel may be written again, if any is held."""
        with self._lock:
            now = self._clock()
            held = [at for at in self._next_allowed.values() if at > now]
            if self._workspace_next_allowed > now:
                held.append(self._workspace_next_allowed)
            return min(held) - now if held else None

    def try_acquire(self, channel: str) -> float:
        """Claim the channel's next slot: 0 when claimed now, else seconds to wait."""
        with self._lock:
            key = self._key(channel)
            now = self._clock()
            allowed = max(
                self._next_allowed.get(key, 0.0), self._workspace_next_allowed
            )
            if allowed > now:
                return allowed - now
            self._next_allowed[key] = now + self.min_interval
            return 0.0

    def restart(self, channel: str) -> None:
        """Count the channel's interval again from now, once a call has completed.

        Slack sees a call somewhere between its start and its end; counting from
        both ends keeps two calls at least `min_interval` apart as Slack sees them.
        """
        with self._lock:
            key = self._key(channel)
            until = self._clock() + self.min_interval
            self._next_allowed[key] = max(self._next_allowed.get(key, 0.0), until)

    def defer(self, channel: str, seconds: float) -> None:
        """Hold the channel for `seconds`, as a 429's Retry-After asks."""
        with self._lock:
            key = self._key(channel)
            until = self._clock() + seconds
            self._next_allowed[key] = max(self._next_allowed.get(key, 0.0), until)

    def defer_all(self, seconds: float) -> None:
        """Hold every channel for `seconds`: a rate limit not tied to one channel."""
        with self._lock:
            until = self._clock() + seconds
            self._workspace_next_allowed = max(self._workspace_next_allowed, until)

    def alias(self, name: str, channel_id: str) -> None:
        """Record that `name` and `channel_id` are the same channel."""
        if not name or not channel_id or name == channel_id:
            return
        with self._lock:
            self._aliases[name] = channel_id
            held = self._next_allowed.pop(name, 0.0)
            if held:
                current = self._next_allowed.get(channel_id, 0.0)
                self._next_allowed[channel_id] = max(current, held)

    def _key(self, channel: str) -> str:
        return self._aliases.get(channel, channel)
