"""Escalation of unacknowledged paging groups to the secondary, exactly once."""

from __future__ import annotations

from alert_gateway.config import Escalation
from alert_gateway.delivery import Deliverer
from alert_gateway.escalation import Escalator
from alert_gateway.metrics import GatewayMetrics
from alert_gateway.slack import SlackWebSink
from alert_gateway.sqlite_store import SqliteStore
from tests.alert_gateway.conftest import alert, payload

MINUTE = 60.0


def _escalations(fake_slack):
    return [call for call in fake_slack.posts() if "not acknowledged" in call.text]


def test_unacknowledged_critical_mentions_the_secondary_once(
    gateway, fake_slack, clock
):
    escalator = Escalator(gateway)
    gateway.receive(payload())
    gateway.run_once()

    clock.advance(14 * MINUTE)
    assert escalator.run() == 0
    clock.advance(2 * MINUTE)
    assert escalator.run() == 1
    clock.advance(30 * MINUTE)
    assert escalator.run() == 0

    [post] = [call for call in fake_slack.posts() if call.thread_ts is None]
    [reply] = _escalations(fake_slack)
    assert reply.thread_ts == post.ts
    assert "<@U0BOB>" in reply.text


def test_acknowledged_group_is_not_escalated(gateway, fake_slack, clock):
    escalator = Escalator(gateway)
    gateway.receive(payload())
    gateway.run_once()

    clock.advance(5 * MINUTE)
    gateway.store.acknowledge(payload()["groupKey"], user="U0ALICE", now=clock.now())
    clock.advance(20 * MINUTE)

    assert escalator.run() == 0
    assert _escalations(fake_slack) == []


def test_warnings_are_not_escalated(gateway, fake_slack, clock):
    escalator = Escalator(gateway)
    gateway.receive(payload(alerts=[alert(severity="warning")]))
    gateway.run_once()

    clock.advance(60 * MINUTE)

    assert escalator.run() == 0


def test_resolved_group_is_not_escalated(gateway, fake_slack, clock):
    escalator = Escalator(gateway)
    gateway.receive(payload())
    gateway.run_once()
    gateway.receive(
        payload(alerts=[alert(status="resolved", ends_at="2026-03-02T10:01:00Z")])
    )
    gateway.drain()

    clock.advance(60 * MINUTE)

    assert escalator.run() == 0


def test_escalation_is_neither_lost_nor_repeated_across_restarts(
    gateway, fake_slack, clock, tmp_path, slack_token
):
    gateway.receive(payload())
    gateway.run_once()
    gateway.store.close()
    clock.advance(20 * MINUTE)

    def restarted() -> tuple[Escalator, SqliteStore]:
        store = SqliteStore(tmp_path / "gateway.db")
        sink = SlackWebSink(slack_token, base_url=fake_slack.base_url)
        deliverer = Deliverer(gateway.config, store, sink, GatewayMetrics(), clock)
        return Escalator(deliverer), store

    first, store = restarted()
    assert first.run() == 1
    store.close()
    second, store = restarted()
    assert second.run() == 0
    store.close()

    assert len(_escalations(fake_slack)) == 1


def test_repeat_escalates_again_each_interval(gateway, fake_slack, clock):
    gateway.config = gateway.config.model_copy(
        update={"escalation": Escalation(after_minutes=15, repeat=True)}
    )
    escalator = Escalator(gateway)
    gateway.receive(payload())
    gateway.run_once()

    clock.advance(16 * MINUTE)
    escalator.run()
    clock.advance(10 * MINUTE)
    escalator.run()
    clock.advance(6 * MINUTE)
    escalator.run()

    assert len(_escalations(fake_slack)) == 2
