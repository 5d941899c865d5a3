"""A gateway stopped (SIGTERM) or killed (SIGKILL) with work queued loses none.

SIGTERM lets the Slack call in flight finish and be recorded, then exits 0;
what was still queued is delivered on the next start, and nothing twice.

The only way a message can reach Slack twice is a kill that lands after Slack
accepted a post and before the gateway committed the message's ts: on restart
the post is made again. The delivery worker commits the ts as soon as the answer
arrives, before any other call, so that window is about one SQLite commit long.
Here Slack refuses every call until the kill, so no post can have been accepted
before it: the test asserts that every group arrives and counts duplicates,
expecting none.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.alert_gateway.conftest import GatewayProcess, alert, payload, wait_until

GROUPS = 25


def _group_of(call) -> str | None:
    for index in range(GROUPS):
        if f"Crash{index:02d}" in call.text:
            return f"Crash{index:02d}"
    return None


@pytest.mark.e2e
def test_sigkill_with_notifications_queued_loses_none(tmp_path, fake_slack):
    fake_slack.fail_next(100_000, status=503)
    gateway = GatewayProcess(tmp_path, fake_slack.base_url).start()
    try:
        for index in range(GROUPS):
            name = f"Crash{index:02d}"
            body = payload(f'{{}}:{{alertname="{name}"}}', [alert(name)])
            assert gateway.post(body).status_code == 200
        wait_until(lambda: fake_slack.rejected >= GROUPS, 15, "Slack to refuse posts")
    finally:
        gateway.kill()
    assert fake_slack.posts() == []

    fake_slack.heal()
    gateway.start()
    try:
        delivered = fake_slack.wait_for(
            lambda calls: len({_group_of(c) for c in calls} - {None}) == GROUPS, 20
        )
    finally:
        assert gateway.stop() == 0

    posts = [call for call in fake_slack.posts() if call.thread_ts is None]
    groups = [_group_of(call) for call in posts]
    duplicates = len(groups) - len(set(groups))
    assert delivered, f"only {len(set(groups))} of {GROUPS} groups reached Slack"
    assert sorted(set(groups)) == [f"Crash{i:02d}" for i in range(GROUPS)]
    assert duplicates == 0


@pytest.mark.e2e
def test_sigterm_finishes_the_call_in_flight_and_leaves_the_queue_for_the_next_start(
    tmp_path, fake_slack
):
    first = payload('{}:{alertname="First"}', [alert("First")])
    queued = payload('{}:{alertname="Queued"}', [alert("Queued")])
    gateway = GatewayProcess(tmp_path, fake_slack.base_url).start()
    assert gateway.process is not None
    fake_slack.hold()
    try:
        assert gateway.post(first).status_code == 200
        wait_until(lambda: fake_slack.held == 1, 10, "the first post to reach Slack")
        assert gateway.post(queued).status_code == 200
        gateway.process.send_signal(signal.SIGTERM)
        wait_until(
            lambda: "Shutting down" in gateway.log_path.read_text(),
            10,
            "the gateway to begin its shutdown",
        )
    finally:
        fake_slack.release()
    try:
        code = gateway.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        gateway.kill()
        raise
    assert code == 0
    # The held post finished and was recorded; the queued group may have gone
    # out too while the server drained its connections.
    assert "First" in fake_slack.posts()[0].text

    gateway.start()
    try:
        more = payload(first["groupKey"], [alert("First"), alert("More")])
        assert gateway.post(more).status_code == 200
        wait_until(
            lambda: len(fake_slack.posts()) == 2 and len(fake_slack.updates()) == 1,
            15,
            "the queued group and the update",
        )
    finally:
        assert gateway.stop() == 0

    first_post, queued_post = fake_slack.posts()
    [update] = fake_slack.updates()
    assert "First" in first_post.text and "Queued" in queued_post.text
    assert update.ts == first_post.ts
