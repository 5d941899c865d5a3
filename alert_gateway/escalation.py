"""Escalation: a paging group nobody acknowledged calls the secondary on call.

When a paging group (a firing alert with a severity listed under
`escalation.severities`) has been firing for `after_minutes` without an
acknowledgement, a reply in its thread mentions the secondary of the team's
rotation. The time of that reply is stored with the group, so a restart
neither forgets a due escalation nor repeats one already posted; with
`repeat: true` it is posted again every `after_minutes` until acknowledged.
"""

from __future__ import annotations

import logging

from alert_gateway.blocks import build_escalation_reply
from alert_gateway.delivery import Deliverer, load_state
from alert_gateway.store import GroupRecord

log = logging.getLogger(__name__)

# After a failed escalation reply, wait at least this long before the next try.
_RETRY_SECONDS = 10.0


class Escalator:
    """Posts due escalations; the delivery worker calls `run` after each pass."""

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self._retry_at: dict[str, float] = {}

    def run(self) -> int:
        """Post every escalation due now; return how many were posted."""
        settings = self.deliverer.config.escalation
        now = self.deliverer.clock.now()
        after = settings.after_minutes * 60
        records = self.deliverer.store.groups_to_escalate(
            firing_before=now - after,
            escalated_before=now - after if settings.repeat else None,
        )
        return sum(self._escalate(record, now) for record in records)

    def _escalate(self, record: GroupRecord, now: float) -> int:
        deliverer = self.deliverer
        state = load_state(record.state)
        assert record.channel is not None and record.ts is not None
        if state is None or self._retry_at.get(record.group_key, 0.0) > now:
            return 0
        if deliverer.pacer.wait_time(record.channel) > 0:
            return 0
        context = {"group_key": record.group_key, "channel": record.channel}

        secondary = deliverer.router.on_call_id(
            record.team, "secondary", record.group_key
        )
        if secondary is None:
            # Nobody to call: remember it as done so it is not retried every pass.
            log.warning("no secondary on call to escalate to", extra=context)
            self._done(record, now)
            return 0

        reply = build_escalation_reply(state, secondary)
        result = deliverer.sink.post(
            record.channel, reply, thread_ts=record.ts, group_key=record.group_key
        )
        if result.kind == "retry":
            wait = max(result.retry_after or 0.0, _RETRY_SECONDS)
            self._retry_at[record.group_key] = now + wait
            return 0
        if result.kind == "permanent":
            log.error("escalation refused", extra={**context, "reason": result.reason})
            self._done(record, now)
            return 0

        self._done(record, now)
        deliverer.metrics.escalations.inc()
        log.info("escalated to secondary", extra={**context, "secondary": secondary})
        return 1

    def _done(self, record: GroupRecord, now: float) -> None:
        record.escalated_at = now
        record.escalations += 1
        self.deliverer.store.save_group(record)
        self._retry_at.pop(record.group_key, None)
