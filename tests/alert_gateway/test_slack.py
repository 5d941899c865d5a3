import io
import logging
import socket
from collections.abc import Iterator

import pytest
from fake_slack import FakeSlack

from alert_gateway.blocks import GroupState, Message, build_message
from alert_gateway.pacing import ChannelPacer
from alert_gateway.payload import Notification
from alert_gateway.slack import (
    PERMANENT_ERRORS,
    ConsoleSink,
    DeliveryResult,
    SlackWebSink,
    classify_response,
)

MESSAGE = Message(
    text="[FIRING:1] critical HighErrorRate",
    blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "disk &amp; cpu"}}],
)


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock) as server:
        yield server


@pytest.fixture
def sink(fake: FakeSlack, clock: ManualClock) -> SlackWebSink:
    pacer = ChannelPacer(1.0, clock=clock)
    return SlackWebSink(fake.token, base_url=fake.base_url, timeout=2, pacer=pacer)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Classification --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "reason", "retry_after"),
    [
        (200, {}, {"ok": True, "ts": "1.1"}, "ok", "ok", None),
        (429, {"Retry-After": "7"}, {"ok": False}, "retry", "rate_limited", 7.0),
        (429, {"retry-after": "2.5"}, b"", "retry", "rate_limited", 2.5),
        (429, {}, None, "retry", "rate_limited", 1.0),
        (429, {"Retry-After": "soon"}, {}, "retry", "rate_limited", 1.0),
        (200, {}, {"ok": False, "error": "ratelimited"}, "retry", "rate_limited", 1.0),
        (500, {}, {"ok": False}, "retry", "server_error", None),
        (503, {}, b"<html>", "retry", "server_error", None),
        (404, {}, b"not found", "retry", "http_error", None),
        (
            200,
            {},
            {"ok": False, "error": "brand_new_error"},
            "retry",
            "brand_new_error",
            None,
        ),
        (
            200,
            {},
            {"ok": False, "error": "Weird Error!"},
            "retry",
            "unknown_error",
            None,
        ),
    ],
)
def test_answers_are_classified(
    status: int,
    headers: dict[str, str],
    body: object,
    kind: str,
    reason: str,
    retry_after: float | None,
) -> None:
    result = classify_response(status, headers, body)  # type: ignore[arg-type]

    assert (result.kind, result.reason, result.retry_after) == (
        kind,
        reason,
        retry_after,
    )


@pytest.mark.parametrize(
    "error",
    [
        "channel_not_found",
        "not_in_channel",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
        "restricted_action",
        "missing_scope",
    ],
)
def test_errors_that_retrying_cannot_fix_are_permanent(error: str) -> None:
    result = classify_response(200, {}, {"ok": False, "error": error})

    assert error in PERMANENT_ERRORS
    assert (result.kind, result.reason) == ("permanent", error)


# Against the fake Slack ------------------------------------------------------


def test_post_returns_the_channel_id_and_ts_slack_assigned(
    fake: FakeSlack, sink: SlackWebSink
) -> None:
    result = sink.post("#alerts", MESSAGE, group_key="g1")

    assert result == DeliveryResult(
        "ok", ts=result.ts, channel=fake.channel_id("#alerts")
    )
    [call] = fake.posts("#alerts")
    assert call.ts == result.ts
    assert call.text == MESSAGE.text
    assert call.blocks == MESSAGE.blocks


def test_update_and_thread_reply_reach_the_posted_message(
    fake: FakeSlack, sink: SlackWebSink, clock: ManualClock
) -> None:
    posted = sink.post("#alerts", MESSAGE)
    assert posted.channel is not None and posted.ts is not None
    clock.advance(1)

    updated = sink.update(posted.channel, posted.ts, Message("resolved", []))
    clock.advance(1)
    reply = sink.post(posted.channel, Message("all clear", []), thread_ts=posted.ts)

    assert updated.kind == "ok" and updated.ts == posted.ts
    assert reply.kind == "ok" and reply.ts != posted.ts
    current = fake.message(posted.channel, posted.ts)
    assert current is not None and current.text == "resolved"
    assert fake.posts()[-1].thread_ts == posted.ts


def test_429_retry_after_is_returned_and_holds_the_channel(
    fake: FakeSlack, sink: SlackWebSink, clock: ManualClock
) -> None:
    fake.reject_all_for(30)

    first = sink.post("#alerts", MESSAGE)
    clock.advance(29)
    early = sink.post("#alerts", MESSAGE)
    other_channel = sink.post("#other", MESSAGE)

    assert (first.kind, first.reason, first.retry_after) == (
        "retry",
        "rate_limited",
        30.0,
    )
    assert (early.kind, early.reason) == ("retry", "paced")
    assert early.retry_after == pytest.approx(1.0)
    assert other_channel.reason == "rate_limited"
    assert fake.rejected == 2

    clock.advance(1)
    assert sink.post("#alerts", MESSAGE).kind == "ok"


def test_server_errors_are_retried_and_then_succeed(
    fake: FakeSlack, sink: SlackWebSink, clock: ManualClock
) -> None:
    fake.fail_next(2, status=503)

    results = []
    for _ in range(3):
        results.append(sink.post("#alerts", MESSAGE))
        clock.advance(1)

    assert [(r.kind, r.reason) for r in results] == [
        ("retry", "server_error"),
        ("retry", "server_error"),
        ("ok", "ok"),
    ]
    assert len(fake.posts()) == 1


def test_slack_error_for_a_channel_is_permanent(
    fake: FakeSlack, sink: SlackWebSink
) -> None:
    fake.fail_channel("#gone")

    result = sink.post("#gone", MESSAGE)

    assert (result.kind, result.reason) == ("permanent", "channel_not_found")
    assert sink.post("#alerts", MESSAGE).kind == "ok"


def test_wrong_token_is_permanent(fake: FakeSlack) -> None:
    sink = SlackWebSink("xoxb-wrong", base_url=fake.base_url)

    result = sink.post("#alerts", MESSAGE)

    assert (result.kind, result.reason) == ("permanent", "invalid_auth")
    assert fake.posts() == []


def test_content_over_slacks_limits_is_permanent(
    fake: FakeSlack, sink: SlackWebSink
) -> None:
    too_long = Message(text="x" * 40_001, blocks=[])

    result = sink.post("#alerts", too_long)

    assert (result.kind, result.reason) == ("permanent", "msg_too_long")


def test_empty_section_is_refused_as_invalid_blocks(
    fake: FakeSlack, sink: SlackWebSink
) -> None:
    empty = Message("x", [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}])

    result = sink.post("#alerts", empty)

    assert (result.kind, result.reason) == ("permanent", "invalid_blocks")


def test_a_huge_group_is_accepted_by_slacks_checks(
    fake: FakeSlack, sink: SlackWebSink
) -> None:
    alerts = []
    for i in range(120):
        summary = "🔥 <error> & " * 400
        alerts.append(
            {
                "status": "firing" if i % 3 else "resolved",
                "labels": {"alertname": f"A{i}", "instance": "é" * 500},
                "annotations": {"summary": summary, "description": summary},
                "startsAt": "2026-12-04T15:00:00Z",
                "endsAt": "2026-12-04T15:10:00Z",
                "fingerprint": f"f{i}",
            }
        )
    notification = Notification.model_validate(
        {
            "version": "4",
            "groupKey": "g" * 3000,
            "status": "firing",
            "receiver": "r",
            "externalURL": "http://alertmanager:9093",
            "groupLabels": {"alertname": "A" * 5000},
            "alerts": alerts,
            "truncatedAlerts": 30,
        }
    )
    message = build_message(
        GroupState.from_notification(notification),
        mention="U0ALICE",
        silence_url=None,
        acknowledged_by="U0BOB",
        buttons=True,
    )

    result = sink.post("#alerts", message)

    assert result.kind == "ok", result.reason
    assert fake.posts()[0].blocks == message.blocks


def test_unreachable_slack_is_retried_and_logged_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base_url = f"http://127.0.0.1:{unused_port()}/api/"
    caplog.set_level(logging.DEBUG)

    result = SlackWebSink("xoxb-any", base_url=base_url).post("#alerts", MESSAGE)

    assert (result.kind, result.reason) == ("retry", "connection_error")
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_timeout_is_retried(fake: FakeSlack) -> None:
    sink = SlackWebSink(fake.token, base_url=fake.base_url, timeout=0.2)
    fake.delay_next(1, 1.0)

    result = sink.post("#alerts", MESSAGE)

    assert (result.kind, result.reason) == ("retry", "timeout")


def test_check_reports_a_working_token(fake: FakeSlack, sink: SlackWebSink) -> None:
    assert sink.check().kind == "ok"
    assert (
        SlackWebSink("xoxb-wrong", base_url=fake.base_url).check().kind == "permanent"
    )


def test_logs_carry_context_but_never_the_token_or_the_message(
    fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    sink = SlackWebSink(fake.token, base_url=fake.base_url, pacer=ChannelPacer(0))
    fake.fail_next(1, status=500)
    caplog.set_level(logging.DEBUG)

    sink.post("#alerts", MESSAGE, group_key="g-42", attempt=3)
    sink.post("#alerts", MESSAGE, group_key="g-42", attempt=4)

    failed, succeeded = [r for r in caplog.records if r.name == "alert_gateway.slack"]
    assert (failed.levelname, succeeded.levelname) == ("WARNING", "INFO")
    assert vars(failed)["channel"] == "#alerts"
    assert (vars(failed)["group_key"], vars(failed)["attempt"]) == ("g-42", 3)
    assert vars(failed)["reason"] == "server_error"
    everything = "\n".join(str(vars(record)) for record in caplog.records)
    assert fake.token not in everything
    assert "HighErrorRate" not in everything and "disk" not in everything


# Pacing ----------------------------------------------------------------------


def test_pacer_allows_one_message_per_interval_per_channel(clock: ManualClock) -> None:
    pacer = ChannelPacer(1.0, clock=clock)

    assert pacer.try_acquire("#a") == 0
    assert pacer.try_acquire("#a") == pytest.approx(1.0)
    assert pacer.try_acquire("#b") == 0
    clock.advance(0.4)
    assert pacer.wait_time("#a") == pytest.approx(0.6)
    clock.advance(0.6)
    assert pacer.wait_time("#a") == 0
    assert pacer.try_acquire("#a") == 0


def test_pacer_holds_a_channel_for_its_retry_after(clock: ManualClock) -> None:
    pacer = ChannelPacer(1.0, clock=clock)

    pacer.defer("#a", 5)

    assert pacer.wait_time("#a") == pytest.approx(5)
    assert pacer.wait_time("#b") == 0
    clock.advance(5)
    assert pacer.try_acquire("#a") == 0


def test_pacer_holds_every_channel_for_a_workspace_retry_after(
    clock: ManualClock,
) -> None:
    pacer = ChannelPacer(1.0, clock=clock)

    pacer.defer_all(3)

    assert pacer.wait_time("#a") == pytest.approx(3)
    assert pacer.try_acquire("#b") == pytest.approx(3)


def test_pacer_treats_a_channel_name_and_its_id_as_one(clock: ManualClock) -> None:
    pacer = ChannelPacer(1.0, clock=clock)
    pacer.alias("#alerts", "C0ALERTS1")

    assert pacer.try_acquire("#alerts") == 0

    assert pacer.wait_time("C0ALERTS1") == pytest.approx(1.0)


def test_sink_does_not_send_faster_than_the_channel_pace(
    fake: FakeSlack, sink: SlackWebSink, clock: ManualClock
) -> None:
    fake.limit_rate_per_channel(1)

    results = [sink.post("#alerts", MESSAGE) for _ in range(3)]
    clock.advance(1)
    results.append(sink.post("#alerts", MESSAGE))

    assert [r.reason for r in results] == ["ok", "paced", "paced", "ok"]
    assert fake.rejected == 0
    assert len(fake.posts("#alerts")) == 2


def test_fake_refuses_posts_faster_than_its_rate(
    fake: FakeSlack, clock: ManualClock
) -> None:
    unpaced = SlackWebSink(
        fake.token, base_url=fake.base_url, pacer=ChannelPacer(0, clock=clock)
    )
    fake.limit_rate_per_channel(1)

    first = unpaced.post("#alerts", MESSAGE)
    second = unpaced.post("#alerts", MESSAGE)

    assert first.kind == "ok"
    assert (second.reason, second.retry_after) == ("rate_limited", 1.0)
    assert fake.wait_for(lambda calls: len(calls) == 1, timeout=1)


# Console ---------------------------------------------------------------------


def test_console_sink_prints_the_message_and_returns_increasing_ts() -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream)

    first = sink.post("#alerts", MESSAGE)
    second = sink.post("#alerts", Message("reply", []), thread_ts=first.ts)
    updated = sink.update("#alerts", str(first.ts), Message("resolved", []))

    assert first.kind == second.kind == updated.kind == "ok"
    assert first.ts is not None and second.ts is not None
    assert float(second.ts) > float(first.ts)
    assert updated.ts == first.ts
    printed = stream.getvalue()
    assert "#alerts" in printed and "disk &amp; cpu" in printed
    assert f"thread {first.ts}" in printed and "resolved" in printed


def test_pacer_counts_the_interval_again_once_a_call_completes(
    clock: ManualClock,
) -> None:
    pacer = ChannelPacer(1.0, clock=clock)
    assert pacer.try_acquire("#a") == 0

    clock.advance(0.3)
    pacer.restart("#a")

    assert pacer.wait_time("#a") == pytest.approx(1.0)


def test_pacer_says_when_the_first_held_channel_is_free_again(
    clock: ManualClock,
) -> None:
    pacer = ChannelPacer(1.0, clock=clock)
    assert pacer.next_allowed_in() is None

    pacer.try_acquire("#a")
    clock.advance(0.4)
    pacer.try_acquire("#b")

    assert pacer.next_allowed_in() == pytest.approx(0.6)
    clock.advance(2)
    assert pacer.next_allowed_in() is None


# Storm -----------------------------------------------------------------------


def test_storm_driver_delivers_every_group_despite_429s() -> None:
    from benchmarks.slack_storm import run_storm

    result = run_storm(groups=6, channels=2, reject_seconds=1.0, give_up_after=20)

    assert (result.delivered, result.dropped) == (6, 0)
    assert result.calls_refused >= 2


def test_fake_fails_a_channel_with_a_server_error_until_healed(
    fake: FakeSlack, sink: SlackWebSink, clock: ManualClock
) -> None:
    fake.fail_channel("#alerts", status=503)

    failed = sink.post("#alerts", MESSAGE)
    fake.heal()
    clock.advance(1)
    healed = sink.post("#alerts", MESSAGE)

    assert (failed.kind, failed.reason) == ("retry", "server_error")
    assert healed.kind == "ok"


def test_fake_wait_for_gives_up_after_its_timeout(fake: FakeSlack) -> None:
    assert not fake.wait_for(lambda calls: len(calls) > 0, timeout=0.1)
