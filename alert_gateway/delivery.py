"""Delivery: stored notifications to Slack, one message per alert group.

The Deliverer (run in a loop by `alert_gateway.worker`) takes the groups whose
oldest pending notification is due, merges every pending notification of a
group into the group's state, and posts the group's message once
(`chat.postMessage`), then keeps it current with `chat.update`. The message's
channel and ts are committed in the same transaction that marks the
notifications delivered, right after Slack accepts: a crash between those two
steps is the only way a post can repeat.

Every Slack call is a step recorded as soon as Slack accepts it, so no answer
that comes later (a paced channel, a 429) makes the gateway send it again: the
thread reply of a resolved group is queued as a thread note with the update it
follows, and posted when the channel allows. Work is taken oldest due first
across groups, notes and acknowledgements, and a group that waits goes behind
the others of its channel.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from alert_gateway.blocks import GroupState, Message, build_resolved_reply
from alert_gateway.clock import Clock
from alert_gateway.config import GatewayConfig
from alert_gateway.metrics import GatewayMetrics
from alert_gateway.pacing import ChannelPacer
from alert_gateway.payload import Alert
from alert_gateway.routing import Router, pages
from alert_gateway.slack import DeliveryResult, SlackSink
from alert_gateway.store import (
    GroupRecord,
    Pending,
    Store,
    StoreUnavailable,
    ThreadNote,
)

log = logging.getLogger(__name__)

# The worker looks for work at least this often (escalations, acknowledgements).
_POLL_SECONDS = 1.0
# How often the in-memory view of due groups is checked against the store.
_RESYNC_SECONDS = 60.0
# Delivered notifications are kept this long to recognise late duplicates.
_KEEP_DELIVERED_SECONDS = 7 * 24 * 3600.0
_PRUNE_EVERY_SECONDS = 3600.0
# A resolved alert stays in its group's message this long after it ended.
_RESOLVED_KEPT_SECONDS = 24 * 3600.0
_GROUPS_PER_PASS = 200
_NOTIFICATIONS_PER_PASS = 500


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; Slack's Retry-After is a floor."""

    initial_seconds: float = 1.0
    max_seconds: float = 300.0

    def delay(
        self, attempt: int, retry_after: float | None, rng: random.Random
    ) -> float:
        ceiling = min(self.max_seconds, self.initial_seconds * 2 ** max(attempt - 1, 0))
        # Half fixed, half random: retries of many groups spread out, none too soon.
        delay = ceiling / 2 + rng.random() * ceiling / 2
        return max(delay, retry_after or 0.0)


def dump_state(state: GroupState) -> str:
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    fields["alerts"] = [
        alert.model_dump(mode="json", by_alias=True) for alert in state.alerts
    ]
    return json.dumps(fields, separators=(",", ":"))


def load_state(text: str | None) -> GroupState | None:
    if not text:
        return None
    fields = json.loads(text)
    fields["alerts"] = [Alert.model_validate(alert) for alert in fields["alerts"]]
    return GroupState(**fields)


def _forget_old_resolved(state: GroupState, now: float) -> None:
    # Alerts Alertmanager stopped sending keep their last status in the state; a
    # group whose alerts come and go (pods, hosts) would otherwise grow forever.
    cutoff = now - _RESOLVED_KEPT_SECONDS
    kept = [
        alert
        for alert in state.alerts
        if alert.status == "firing"
        or not alert.has_end
        or alert.ends_at is None
        or alert.ends_at.timestamp() >= cutoff
    ]
    if len(kept) < len(state.alerts) and kept:
        state.alerts = kept


class Deliverer:
    """One pass over due work at a time; the Worker thread calls it in a loop."""

    def __init__(
        self,
        config: GatewayConfig,
        store: Store,
        sink: SlackSink,
        metrics: GatewayMetrics,
        clock: Clock,
        *,
        pacer: ChannelPacer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self.router = Router(config, clock)
        # One pace for the worker and the sink: the sink's own when it has one.
        self.pacer = (
            pacer
            or getattr(sink, "pacer", None)
            or ChannelPacer(
                config.slack.min_interval_per_channel_seconds, clock=clock.now
            )
        )
        self.backoff = Backoff(
            config.slack.retry_initial_seconds, config.slack.retry_max_seconds
        )
        self.rng = rng or random.Random()
        # Slack answers a post with the channel's id; later calls use the id.
        self._channel_ids: dict[str, str] = {}
        # The channel routed to for groups not yet posted, to pace them cheaply.
        self._routed: dict[str, str] = {}
        # When a note or an acknowledgement that Slack refused for now may be retried.
        self._note_retry_at: dict[int, float] = {}
        self._refresh_retry_at: dict[str, float] = {}
        # Groups with pending notifications and when each is due: kept in memory
        # from commits and retries, and checked against the store now and then.
        self._due_at: dict[str, float] = {}
        self._arrivals: set[str] = set()
        self._arrivals_lock = threading.Lock()
        self._synced_at: float | None = None
        self._pruned_at: float | None = None
        self._maintained_at: float | None = None

    def arrived(self, group_keys: Iterable[str]) -> None:
        """Note groups that got new notifications (called by the store's writer)."""
        with self._arrivals_lock:
            self._arrivals.update(group_keys)

    def run_once(self, *, stopping: Callable[[], bool] = lambda: False) -> int:
        """Deliver what is due now, oldest first; return how many calls succeeded."""
        now = self.clock.now()
        self._sync(now)
        done = 0
        for _, step in self._due_steps(now):
            if stopping():
                return done
            done += step()
        self._prune(now)
        self._maintain(now)
        return done

    def _due_steps(self, now: float) -> list[tuple[float, Callable[[], int]]]:
        # Group messages, thread notes and acknowledgements compete for the same
        # channels: taking them in order of when each became due lets none starve.
        groups = sorted((at, key) for key, at in self._due_at.items() if at <= now)
        steps: list[tuple[float, Callable[[], int]]] = [
            (at, functools.partial(self._deliver_due, key))
            for at, key in groups[:_GROUPS_PER_PASS]
        ]
        for record in self.store.groups_to_refresh():
            if self._refresh_retry_at.get(record.group_key, 0.0) <= now:
                at = record.acknowledged_at or now
                steps.append((at, functools.partial(self._refresh, record)))
        for note in self.store.pending_notes():
            if self._note_retry_at.get(note.id, 0.0) <= now:
                step = functools.partial(self._post_note, note)
                steps.append((note.created_at, step))
        steps.sort(key=lambda item: item[0])
        return steps

    def _deliver_due(self, group_key: str) -> int:
        # A group whose channel must wait is skipped before its payloads are read.
        channel = self._known_channel(group_key)
        if channel is not None and self._paced(channel):
            return 0
        pendings = self.store.pending(group_key, limit=_NOTIFICATIONS_PER_PASS)
        if not pendings:
            self._forget(group_key)
            return 0
        return self._deliver_guarded(pendings)

    def _paced(self, channel: str) -> bool:
        return self.pacer.wait_time(channel) > 0

    def _maintain(self, now: float) -> None:
        if self._maintained_at is not None and now - self._maintained_at < 1.0:
            return
        self._maintained_at = now
        self.store.maintain()

    def _prune(self, now: float) -> None:
        if self._pruned_at is not None and now - self._pruned_at < _PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        removed = self.store.prune(delivered_before=now - _KEEP_DELIVERED_SECONDS)
        if removed:
            log.info("forgot old delivered notifications", extra={"count": removed})

    def next_wake(self) -> float:
        """Seconds until something may be due, at most the poll interval."""
        now = self.clock.now()
        moments = [now + _POLL_SECONDS]
        later = [at for at in self._due_at.values() if at > now]
        if later:
            moments.append(min(later))
        ready_in = self.pacer.next_allowed_in()
        if ready_in is not None:
            moments.append(now + ready_in)
        return max(0.0, min(moments) - now)

    def _sync(self, now: float) -> None:
        with self._arrivals_lock:
            arrivals, self._arrivals = self._arrivals, set()
        for group_key in arrivals:
            # A group backing off stays due when its backoff ends.
            self._due_at.setdefault(group_key, now)

        if self._synced_at is not None and now - self._synced_at < _RESYNC_SECONDS:
            return
        # The store is the truth: at start, and now and then, read it whole.
        self._synced_at = now
        for due in self.store.due_groups(float("inf"), limit=1_000_000):
            self._due_at[due.group_key] = due.next_attempt_at
            if due.channel is not None:
                self._routed[due.group_key] = due.channel

    # One group -------------------------------------------------------------

    def _deliver_guarded(self, pendings: list[Pending]) -> int:
        try:
            return self.deliver_group(pendings)
        except StoreUnavailable:
            raise
        except Exception:
            # A notification the gateway cannot handle must not block its group.
            group_key = pendings[0].group_key
            log.exception("cannot deliver group", extra={"group_key": group_key})
            self.store.dead_letter(
                [pending.id for pending in pendings],
                group_key=group_key,
                channel=None,
                reason="gateway_error",
                now=self.clock.now(),
            )
            self.metrics.dead_lettered.labels(reason="gateway_error").inc(len(pendings))
            self._forget(group_key)
            return 0

    def deliver_group(self, pendings: list[Pending]) -> int:
        """Merge a group's pending notifications into its message; 1 when sent."""
        group_key = pendings[0].group_key
        record = self.store.group(group_key) or GroupRecord(group_key)
        state = load_state(record.state)
        for pending in pendings:
            notification = pending.notification()
            state = (
                GroupState.from_notification(notification)
                if state is None
                else state.merge(notification)
            )
        assert state is not None
        _forget_old_resolved(state, self.clock.now())

        target = self.router.route(state, pendings[0].team or record.team)
        channel = record.channel or self._channel_ids.get(
            target.channel, target.channel
        )
        self._routed[group_key] = channel
        now = self.clock.now()
        if self._paced(channel):
            return 0

        if state.status == "firing" and record.status != "firing":
            record.firing_since = now
            record.escalated_at = None
            record.escalations = 0
            record.resolved_reply_posted = False
        record.team = record.team or (target.team.name if target.team else None)
        record.status = state.status
        record.state = dump_state(state)
        record.paging = pages(state, self.config.escalation.severities)
        message = self.router.message(state, record)

        ids = [pending.id for pending in pendings]
        context = {
            "group_key": group_key,
            "channel": channel,
            "alerts": len(state.alerts),
        }
        first = record.ts is None
        attempt = pendings[0].attempts + 1
        if first:
            result = self.sink.post(
                channel, message, group_key=group_key, attempt=attempt
            )
        else:
            result = self.sink.update(
                channel, record.ts, message, group_key=group_key, attempt=attempt
            )
        if result.kind != "ok":
            self._failed(pendings, channel, result, context)
            return 0

        if first:
            record.channel = result.channel or channel
            record.ts = result.ts
            self._channel_ids[target.channel] = record.channel
            self._routed[group_key] = record.channel
            # Every later line of the group names the channel as Slack does.
            context["channel"] = record.channel
        record.shown_ack_seq = record.ack_seq
        record.updated_at = self.clock.now()
        notes = []
        if state.status == "resolved" and not record.resolved_reply_posted:
            # The reply is a step of its own, recorded with this message so that
            # it is posted once, when the channel allows, and the message is not
            # sent again for it. The flag means "queued" from here on.
            notes.append(note_text(build_resolved_reply(state)))
            record.resolved_reply_posted = True
        self.store.save_group(record, delivered=ids, notes=notes)
        if len(pendings) < _NOTIFICATIONS_PER_PASS:
            self._forget(group_key)
        else:
            # More of the group is waiting: behind the others of its channel.
            self._due_at[group_key] = record.updated_at

        self._count_delivered(pendings)
        verb = "posted" if first else "updated"
        log.info(f"{verb} group message", extra={**context, "status": state.status})
        return 1

    def _forget(self, group_key: str) -> None:
        """Nothing is pending for the group any more, as far as the worker knows."""
        self._due_at.pop(group_key, None)
        self._routed.pop(group_key, None)

    def _known_channel(self, group_key: str) -> str | None:
        # Channels recorded from Slack's answers are ids already; names map to them.
        channel = self._routed.get(group_key)
        return None if channel is None else self._channel_ids.get(channel, channel)

    def _failed(
        self, pendings: list[Pending], channel: str, result: DeliveryResult, context
    ) -> None:
        ids = [pending.id for pending in pendings]
        now = self.clock.now()
        context = {**context, "reason": result.reason}
        if result.reason == "paced":
            # Nothing was sent: come back when the channel allows, behind the
            # groups of the channel that were due before this one.
            self._due_at[pendings[0].group_key] = now + (result.retry_after or 0.0)
            log.debug("channel paced, group waits", extra=context)
            return
        if result.kind == "retry":
            attempt = pendings[0].attempts + 1
            delay = self.backoff.delay(attempt, result.retry_after, self.rng)
            self.store.retry_later(ids, at=now + delay, reason=result.reason)
            self._due_at[pendings[0].group_key] = now + delay
            self.metrics.retried.labels(reason=result.reason).inc()
            log.warning(
                "slack call failed, will retry",
                extra={**context, "attempt": attempt, "retry_in": round(delay, 3)},
            )
            return

        self.store.dead_letter(
            ids,
            group_key=pendings[0].group_key,
            channel=channel,
            reason=result.reason,
            now=now,
        )
        self._forget(pendings[0].group_key)
        self.metrics.dead_lettered.labels(reason=result.reason).inc(len(ids))
        log.error("slack refused, moved to dead letters", extra=context)

    def _count_delivered(self, pendings: list[Pending]) -> None:
        now = self.clock.now()
        self.metrics.delivered.inc(len(pendings))
        for pending in pendings:
            self.metrics.delivery_latency.observe(max(0.0, now - pending.received_at))

    # Acknowledgements and notes ------------------------------------------------

    def _refresh(self, record: GroupRecord) -> int:
        state = load_state(record.state)
        assert record.channel is not None and record.ts is not None
        now = self.clock.now()
        if state is None or self._paced(record.channel):
            return 0
        seen = record.ack_seq
        result = self.sink.update(
            record.channel, record.ts, self.router.message(state, record)
        )
        context = {"group_key": record.group_key, "channel": record.channel}
        if result.kind == "retry":
            wait = max(result.retry_after or 0.0, 1.0)
            self._refresh_retry_at[record.group_key] = now + wait
            return 0
        self._refresh_retry_at.pop(record.group_key, None)
        if result.kind == "permanent":
            log.error(
                "could not show acknowledgement",
                extra={**context, "reason": result.reason},
            )
        record.shown_ack_seq = seen
        self.store.save_group(record)
        log.info(
            "showed acknowledgement", extra={**context, "by": record.acknowledged_by}
        )
        return 1

    def _post_note(self, note: ThreadNote) -> int:
        record = self.store.group(note.group_key)
        now = self.clock.now()
        if record is None or record.channel is None or record.ts is None:
            self.store.note_posted(note.id, now=now)
            return 0
        if self._paced(record.channel):
            return 0
        fields = json.loads(note.text)
        message = Message(text=fields["text"], blocks=fields["blocks"])
        result = self.sink.post(
            record.channel, message, thread_ts=record.ts, group_key=note.group_key
        )
        context = {"group_key": note.group_key, "channel": record.channel}
        if result.kind == "retry":
            # A paced note was not sent; anything else waits a little longer.
            floor = 0.0 if result.reason == "paced" else 5.0
            self._note_retry_at[note.id] = now + max(result.retry_after or 0, floor)
            return 0
        self._note_retry_at.pop(note.id, None)
        if result.kind == "permanent":
            log.error(
                "could not post thread note", extra={**context, "reason": result.reason}
            )
        self.store.note_posted(note.id, now=self.clock.now())
        log.info("posted thread note", extra=context)
        return 1


def note_text(message: Message) -> str:
    """A thread note as stored until the worker posts it."""
    return json.dumps({"text": message.text, "blocks": message.blocks})
