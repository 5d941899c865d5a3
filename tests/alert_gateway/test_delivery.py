"""Delivery to a fake Slack: one message per group, updates, retries, dead letters."""

from __future__ import annotations

import json
import random

import pytest

from alert_gateway.delivery import Backoff, Deliverer
from alert_gateway.metrics import GatewayMetrics
from alert_gateway.pacing import ChannelPacer
from alert_gateway.payload import Notification
from alert_gateway.slack import SlackWebSink
from alert_gateway.sqlite_store import SqliteStore
from tests.alert_gateway.conftest import INTERVAL, GatewayProcess, alert, payload

RESOLVED_AT = "2026-03-02T10:05:00Z"


def _metric(deliverer: Deliverer, name: str, **labels: str) -> float:
    value = deliverer.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


def test_first_notification_posts_with_the_primary_on_call_mentioned(
    gateway, fake_slack
):
    gateway.receive(payload())

    gateway.run_once()

    [post] = fake_slack.posts("#platform-alerts")
    assert "<@U0ALICE>" in json.dumps(post.blocks)
    assert gateway.store.queue_depth() == 0
    assert _metric(gateway, "alert_gateway_notifications_delivered_total") == 1


def test_later_notifications_update_the_same_message_in_place(
    gateway, fake_slack, clock
):
    key = '{}:{alertname="HighErrorRate"}'
    gateway.receive(payload(key, [alert("HighErrorRate")]))
    gateway.run_once()
    clock.advance(INTERVAL)
    gateway.receive(payload(key, [alert("HighErrorRate"), alert("DiskFull")]))
    gateway.run_once()

    [post] = fake_slack.posts()
    [update] = fake_slack.updates()
    assert update.ts == post.ts
    assert "DiskFull" in json.dumps(update.blocks)
    assert fake_slack.message("#platform-alerts", post.ts) == update


def test_resolving_the_group_updates_the_message_and_replies_in_its_thread(
    gateway, fake_slack
):
    gateway.receive(payload())
    gateway.drain()
    resolved = alert(status="resolved", ends_at=RESOLVED_AT)
    gateway.receive(payload(alerts=[resolved]))
    gateway.drain()

    [post, reply] = fake_slack.posts()
    [update] = fake_slack.updates()
    assert update.ts == post.ts
    assert reply.thread_ts == post.ts
    assert "Resolved" in reply.text
    assert "<@U0ALICE>" not in json.dumps(update.blocks)


def test_resolved_group_is_updated_and_replied_once_and_its_channel_moves_on(
    gateway, fake_slack
):
    gateway.receive(payload("{}:{a}", [alert("A")]))
    gateway.drain()
    gateway.receive(
        payload("{}:{a}", [alert("A", status="resolved", ends_at=RESOLVED_AT)])
    )
    gateway.receive(payload("{}:{b}", [alert("B")]))

    gateway.drain(passes=10)

    first, other = [p for p in fake_slack.posts("#platform-alerts") if not p.thread_ts]
    [reply] = [p for p in fake_slack.posts("#platform-alerts") if p.thread_ts]
    [update] = fake_slack.updates()
    assert update.ts == first.ts
    assert reply.thread_ts == first.ts and "Resolved" in reply.text
    assert "{}:{b}" in json.dumps(other.blocks)
    assert gateway.store.queue_depth() == 0
    assert gateway.store.pending_notes() == []


def test_group_first_seen_resolved_is_posted_then_replied_in_its_thread(
    gateway, fake_slack
):
    gateway.receive(payload(alerts=[alert(status="resolved", ends_at=RESOLVED_AT)]))
    gateway.receive(payload("{}:{b}", [alert("B")]))

    gateway.drain(passes=10)

    post, other = [p for p in fake_slack.posts("#platform-alerts") if not p.thread_ts]
    [reply] = [p for p in fake_slack.posts("#platform-alerts") if p.thread_ts]
    assert fake_slack.updates() == []
    assert reply.thread_ts == post.ts and "Resolved" in reply.text
    assert other.thread_ts is None
    assert gateway.store.queue_depth() == 0


def test_a_queued_resolved_reply_survives_a_restart_without_a_second_update(
    gateway, fake_slack, clock, tmp_path, slack_token
):
    gateway.receive(payload())
    gateway.drain()
    gateway.receive(payload(alerts=[alert(status="resolved", ends_at=RESOLVED_AT)]))
    gateway.run_once()  # the update goes; the channel's pace holds the reply
    gateway.store.close()

    store = SqliteStore(tmp_path / "gateway.db")
    pacer = ChannelPacer(INTERVAL, clock=clock.now)
    sink = SlackWebSink(slack_token, base_url=fake_slack.base_url, pacer=pacer)
    again = Deliverer(gateway.config, store, sink, GatewayMetrics(), clock)
    for _ in range(5):
        again.run_once()
        clock.advance(INTERVAL)
    store.close()

    [post, reply] = fake_slack.posts()
    [update] = fake_slack.updates()
    assert reply.thread_ts == post.ts == update.ts


def test_a_paced_answer_is_not_a_failure_and_sends_nothing_twice(
    gateway, fake_slack, clock
):
    gateway.receive(payload())
    gateway.drain()
    gateway.receive(payload(alerts=[alert(status="resolved", ends_at=RESOLVED_AT)]))
    # Someone else writes to the channel just before the worker's turn.
    gateway.sink.pacer.try_acquire(fake_slack.channel_id("#platform-alerts"))

    gateway.drain(passes=6)

    assert len(fake_slack.updates()) == 1
    assert len(fake_slack.posts()) == 2
    assert _metric(gateway, "alert_gateway_delivery_retries_total", reason="paced") == 0
    assert gateway.store.dead_letters() == []


def test_pending_notifications_of_a_group_are_merged_into_one_post(gateway, fake_slack):
    gateway.receive(payload(alerts=[alert("A")]))
    gateway.receive(payload(alerts=[alert("A"), alert("B")]))

    gateway.run_once()

    [post] = fake_slack.posts()
    assert fake_slack.updates() == []
    assert "B" in post.text or '"B' in json.dumps(post.blocks)
    assert _metric(gateway, "alert_gateway_notifications_delivered_total") == 2


def test_rate_limited_post_waits_for_retry_after_then_is_sent_once(
    gateway, fake_slack, clock
):
    fake_slack.fail_next(1, status=429)
    gateway.receive(payload())

    gateway.run_once()
    assert fake_slack.posts() == []
    assert gateway.store.queue_depth() == 1
    assert _metric(
        gateway, "alert_gateway_delivery_retries_total", reason="rate_limited"
    )

    gateway.run_once()  # too early: Retry-After has not passed
    assert fake_slack.posts() == []

    clock.advance(1.5)
    gateway.run_once()
    assert len(fake_slack.posts()) == 1
    assert gateway.store.queue_depth() == 0


def test_server_errors_are_retried_with_backoff_and_nothing_is_lost(
    gateway, fake_slack, clock
):
    fake_slack.fail_next(3, status=503)
    gateway.receive(payload())

    for _ in range(3):
        gateway.run_once()
        clock.advance(10)
    gateway.run_once()

    assert len(fake_slack.posts()) == 1
    assert (
        _metric(gateway, "alert_gateway_delivery_retries_total", reason="server_error")
        == 3
    )
    assert gateway.store.queue_depth() == 0


def test_permanent_error_moves_the_notification_to_dead_letters(gateway, fake_slack):
    fake_slack.fail_channel("#platform-alerts", "channel_not_found")
    gateway.receive(payload())

    gateway.run_once()

    [letter] = gateway.store.dead_letters()
    assert letter.reason == "channel_not_found"
    assert letter.group_key == payload()["groupKey"]
    assert gateway.store.queue_depth() == 0
    assert (
        _metric(
            gateway,
            "alert_gateway_notifications_dead_lettered_total",
            reason="channel_not_found",
        )
        == 1
    )


def test_unmatched_groups_go_to_the_default_channel_without_mention(
    gateway, fake_slack
):
    other = alert("Slow", severity="warning", team="nobody")
    body = payload("{}:{other}", [other])
    body["commonLabels"] = {"team": "nobody"}
    gateway.receive(body)

    gateway.run_once()

    [post] = fake_slack.posts("#alerts")
    assert "<@U0" not in json.dumps(post.blocks)


def test_team_in_the_webhook_path_chooses_the_team_channel(gateway, fake_slack):
    body = payload("{}:{path}", [alert("Slow", team="elsewhere")])
    body["commonLabels"] = {"team": "elsewhere", "severity": "critical"}
    gateway.receive(body, team="platform")

    gateway.run_once()

    assert len(fake_slack.posts("#platform-alerts")) == 1


def test_message_ts_survives_a_restart(
    gateway, fake_slack, tmp_path, clock, slack_token
):
    gateway.receive(payload(alerts=[alert("A")]))
    gateway.run_once()
    gateway.store.close()

    store = SqliteStore(tmp_path / "gateway.db")
    sink = SlackWebSink(slack_token, base_url=fake_slack.base_url)
    again = Deliverer(gateway.config, store, sink, GatewayMetrics(), clock)
    store.submit(
        Notification.model_validate(payload(alerts=[alert("A"), alert("B")])),
        json.dumps(payload(alerts=[alert("A"), alert("B")])).encode(),
        team=None,
        now=clock.now(),
    ).result(timeout=5)
    again.run_once()
    store.close()

    [post] = fake_slack.posts()
    [update] = fake_slack.updates()
    assert update.ts == post.ts


def test_acknowledgement_is_shown_on_the_message(gateway, fake_slack, clock):
    gateway.receive(payload())
    gateway.run_once()

    clock.advance(60)
    key = payload()["groupKey"]
    assert gateway.store.acknowledge(key, user="U0CAROL", now=clock.now())
    gateway.run_once()
    gateway.run_once()

    [update] = fake_slack.updates()
    assert "Acknowledged by <@U0CAROL>" in json.dumps(update.blocks)


def test_backoff_doubles_up_to_its_ceiling_and_respects_retry_after():
    backoff = Backoff(initial_seconds=1, max_seconds=60)
    rng = random.Random(1)

    delays = [backoff.delay(attempt, None, rng) for attempt in range(1, 10)]

    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(60, 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.delay(1, 30.0, rng) >= 30.0


def test_delivered_notifications_are_forgotten_after_a_week(gateway, clock):
    gateway.receive(payload())
    gateway.run_once()

    clock.advance(8 * 24 * 3600)
    gateway.run_once()

    # Forgotten, the same payload is new again rather than a duplicate.
    again = payload()
    gateway.receive(again)
    assert gateway.store.queue_depth() == 1


def test_alerts_resolved_a_day_ago_leave_the_message(gateway, fake_slack, clock):
    old = alert("Gone", status="resolved", ends_at="2026-03-02T09:58:00Z")
    gateway.receive(payload(alerts=[alert("Stays"), old]))
    gateway.run_once()

    clock.advance(2 * 24 * 3600)
    gateway.receive(payload(alerts=[alert("Stays"), alert("New")]))
    gateway.run_once()

    [post] = fake_slack.posts()
    [update] = fake_slack.updates()
    assert "Gone" in json.dumps(post.blocks)
    assert "Gone" not in json.dumps(update.blocks)
    assert "New" in json.dumps(update.blocks)


def test_the_worker_waits_on_the_pace_its_sink_keeps(gateway, fake_slack, clock):
    gateway.receive(payload())
    gateway.sink.pacer.defer("#platform-alerts", 30)

    gateway.run_once()
    held = fake_slack.posts()
    clock.advance(30)
    gateway.run_once()

    assert gateway.pacer is gateway.sink.pacer
    assert held == []
    assert len(fake_slack.posts()) == 1


def test_log_lines_of_a_group_name_its_channel_the_same_way(
    gateway, fake_slack, clock, caplog
):
    caplog.set_level("INFO", logger="alert_gateway.delivery")
    gateway.receive(payload())
    gateway.run_once()
    clock.advance(INTERVAL)
    gateway.receive(payload(alerts=[alert(), alert("Second")]))
    gateway.run_once()

    posted, updated = [
        record
        for record in caplog.records
        if record.getMessage() in ("posted group message", "updated group message")
    ]
    assert (
        posted.channel == updated.channel == fake_slack.channel_id("#platform-alerts")
    )


@pytest.mark.e2e
def test_served_gateway_at_the_shipped_pace_resolves_a_group_and_moves_on(
    tmp_path, fake_slack
):
    served = GatewayProcess(tmp_path, fake_slack.base_url, interval=1.0).start()
    try:
        assert served.post(payload("{}:{a}", [alert("A")])).ok
        assert fake_slack.wait_for(lambda calls: len(calls) == 1, 10)
        resolved = alert("A", status="resolved", ends_at=RESOLVED_AT)
        assert served.post(payload("{}:{a}", [resolved])).ok
        assert served.post(payload("{}:{b}", [alert("B")])).ok

        arrived = fake_slack.wait_for(
            lambda calls: sum(c.method == "chat.postMessage" for c in calls) == 3, 15
        )
    finally:
        assert served.stop() == 0

    assert arrived, [(c.method, c.thread_ts) for c in fake_slack.calls]
    [update] = fake_slack.updates()
    [reply] = [call for call in fake_slack.posts() if call.thread_ts]
    assert reply.thread_ts == update.ts
