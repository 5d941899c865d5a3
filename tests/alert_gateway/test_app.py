"""The webhook API's answers: auth, size, JSON, shape, dedup, and a failing store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alert_gateway.app import MAX_BODY_BYTES, create_app
from alert_gateway.config import load_config
from alert_gateway.slack import ConsoleSink
from alert_gateway.sqlite_store import SqliteStore
from alert_gateway.store import StoreUnavailable
from tests.alert_gateway.conftest import make_config, payload

TOKEN = "s3cret-webhook-token"


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "gateway.db")
    yield store
    store.close()


@pytest.fixture
def client(tmp_path, store, clock):
    config = make_config(tmp_path / "gateway.db", webhook_bearer_token=TOKEN)
    app = create_app(
        config, store, ConsoleSink(io.StringIO()), clock, start_worker=False
    )
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def test_valid_payload_is_stored_and_answered_200(client, store):
    response = client.post("/alertmanager", json=payload())

    assert response.status_code == 200
    assert response.json() == {"status": "stored"}
    assert store.queue_depth() == 1


def test_missing_or_wrong_bearer_token_is_401(client):
    wrong = client.post(
        "/alertmanager", json=payload(), headers={"Authorization": "Bearer nope"}
    )
    del client.headers["Authorization"]
    missing = client.post("/alertmanager", json=payload())

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert "error" in wrong.json()


def test_the_bearer_scheme_is_matched_without_regard_to_case(client):
    lower = client.post(
        "/alertmanager", json=payload(), headers={"Authorization": f"bearer {TOKEN}"}
    )
    basic = client.post(
        "/alertmanager", json=payload(), headers={"Authorization": f"Basic {TOKEN}"}
    )

    assert (lower.status_code, basic.status_code) == (200, 401)


def test_body_over_one_mebibyte_is_413(client, store):
    big = json.dumps(payload()).encode() + b" " * MAX_BODY_BYTES

    response = client.post(
        "/alertmanager", content=big, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert "error" in response.json()
    assert store.queue_depth() == 0


def test_chunked_body_over_one_mebibyte_is_413(client):
    def chunks():
        for _ in range(20):
            yield b" " * 65536

    response = client.post("/alertmanager", content=chunks())

    assert response.status_code == 413


def test_broken_json_is_400(client):
    response = client.post(
        "/alertmanager",
        content=b'{"version": "4",',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json() == {"error": "body is not valid JSON"}


@pytest.mark.parametrize(
    "change",
    [
        {"version": "3"},
        {"alerts": []},
        {"status": "sleeping"},
        {"groupKey": None},
    ],
)
def test_payload_of_wrong_shape_is_422(client, change):
    response = client.post("/alertmanager", json={**payload(), **change})

    assert response.status_code == 422
    assert response.json()["error"].startswith("not an Alertmanager v4 payload")


def test_json_that_is_not_an_object_is_422(client):
    assert client.post("/alertmanager", json=[1, 2]).status_code == 422


def test_identical_payloads_are_stored_once(client, store):
    first = client.post("/alertmanager", json=payload())
    twin = client.post("/alertmanager", json=payload())
    other = client.post("/alertmanager/platform", json=payload(group_key="{}:{x}"))

    assert first.json() == {"status": "stored"}
    assert twin.status_code == 200
    assert twin.json() == {"status": "duplicate"}
    assert other.json() == {"status": "stored"}
    assert store.queue_depth() == 2
    metrics = client.get("/metrics").text
    assert "alert_gateway_notifications_deduplicated_total 1.0" in metrics
    assert "alert_gateway_notifications_received_total 3.0" in metrics


class _BrokenStore(SqliteStore):
    async def accept(self, notification, payload, *, team, now):
        raise StoreUnavailable("disk I/O error")


def test_a_store_that_cannot_commit_answers_503_not_4xx(tmp_path, clock):
    store = _BrokenStore(tmp_path / "broken.db")
    config = make_config(tmp_path / "broken.db")
    app = create_app(
        config, store, ConsoleSink(io.StringIO()), clock, start_worker=False
    )
    with TestClient(app) as client:
        response = client.post("/alertmanager", json=payload())
    store.close()

    assert response.status_code == 503
    assert "error" in response.json()


def test_a_full_queue_answers_503(tmp_path, clock):
    store = SqliteStore(tmp_path / "full.db", queue_limit=1)
    store.close()  # the writer is gone: nothing can be queued any more
    config = make_config(tmp_path / "full.db")
    app = create_app(
        config, store, ConsoleSink(io.StringIO()), clock, start_worker=False
    )
    with TestClient(app) as client:
        response = client.post("/alertmanager", json=payload())

    assert response.status_code == 503


def test_health_and_readiness(client, store):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    # The worker is not started in these tests, so readiness says so.
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["delivery worker not running"]


def test_oncall_json_names_primary_and_secondary(client):
    body = client.get("/oncall", params={"at": "2026-03-02T10:00:00+00:00"}).json()

    layers = body["teams"][0]["layers"]
    assert body["teams"][0]["team"] == "platform"
    assert layers["primary"]["slack_id"] == "U0ALICE"
    assert layers["secondary"]["slack_id"] == "U0BOB"


def test_oncall_ics_is_a_calendar(client):
    response = client.get("/oncall.ics")

    assert response.headers["content-type"].startswith("text/calendar")
    assert response.text.startswith("BEGIN:VCALENDAR\r\n")
    assert "U0ALICE" in response.text or "alice" in response.text


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",
        "1899-12-31T23:59:59+00:00",
    ],
)
def test_oncall_at_out_of_range_is_400_with_a_short_error(client, at):
    response = client.get("/oncall", params={"at": at})

    assert response.status_code == 400
    assert response.json() == {
        "error": f"at must be in the years 1900 to 8999, got {at}"
    }


@pytest.mark.parametrize(
    "path",
    ["/oncall.ics?weeks=abc", "/deadletters?limit=abc", "/no-such-page"],
)
def test_every_client_error_has_the_short_error_shape(client, path):
    response = client.get(path)

    assert 400 <= response.status_code < 500
    assert list(response.json()) == ["error"]
    assert "detail" not in response.text


def test_a_bad_query_parameter_is_named_in_our_words(client):
    response = client.get("/oncall.ics", params={"weeks": "abc"})

    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith("weeks: expected a valid integer")
    assert message.endswith(", got 'abc'")


def test_unknown_team_is_404_for_the_calendar_as_for_the_json(client):
    calendar = client.get("/oncall.ics", params={"team": "nope"})
    now = client.get("/oncall", params={"team": "nope"})

    assert (calendar.status_code, now.status_code) == (404, 404)
    assert calendar.json() == now.json() == {"error": "no team named 'nope'"}


def test_refuses_webhooks_while_draining(client):
    client.app.state.gateway.begin_drain()

    assert client.post("/alertmanager", json=payload()).status_code == 503


class _FakeAlertmanager:
    """Stands in for requests when the gateway creates a silence."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def post(self, url: str, *, json: dict, timeout: float):
        self.bodies.append(json)

        class Answer:
            status_code = 200

            @staticmethod
            def json() -> dict:
                return {"silenceID": "sil-123"}

        return Answer()


@pytest.fixture
def slack_app(clock, gateway):
    """The app with a signing secret, on the fixture's store and fake Slack.

    Tests deliver with the app's own worker pass (`_deliver`), so that the
    app's metrics count what happened.
    """
    alertmanager = _FakeAlertmanager()
    app = create_app(
        gateway.config,
        gateway.store,
        gateway.sink,
        clock,
        start_worker=False,
        silence_session=alertmanager,
    )
    with TestClient(app) as client:
        yield client, alertmanager


def _deliver(client) -> int:
    return client.app.state.gateway.deliverer.run_once()


def _signed(clock, action_id: str, value: str, *, secret: str = "x", age: float = 0):
    from urllib.parse import urlencode

    from alert_gateway.signing import slack_signature

    body = urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": "U0CAROL", "username": "carol"},
                    "actions": [{"action_id": action_id, "value": value}],
                }
            )
        }
    ).encode()
    timestamp = str(int(clock.now() - age))
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body, headers


def test_acknowledge_button_stops_escalation_and_shows_who(
    slack_app, gateway, clock, fake_slack
):
    client, _ = slack_app
    gateway.receive(payload())
    _deliver(client)
    clock.advance(60)

    body, headers = _signed(clock, "ack", payload()["groupKey"])
    response = client.post("/slack/actions", content=body, headers=headers)
    _deliver(client)

    assert response.status_code == 200
    [update] = fake_slack.updates()
    assert "Acknowledged by <@U0CAROL>" in json.dumps(update.blocks)
    clock.advance(3600)
    assert (
        gateway.store.groups_to_escalate(
            firing_before=clock.now(), escalated_before=None
        )
        == []
    )


def test_a_second_acknowledge_click_does_not_update_the_message_again(
    slack_app, gateway, clock, fake_slack
):
    client, _ = slack_app
    gateway.receive(payload())
    _deliver(client)

    for _ in range(2):
        clock.advance(60)
        body, headers = _signed(clock, "ack", payload()["groupKey"])
        assert client.post("/slack/actions", content=body, headers=headers).is_success
        _deliver(client)

    [update] = fake_slack.updates()
    assert "Acknowledged by <@U0CAROL>" in json.dumps(update.blocks)


def test_silence_button_creates_a_silence_and_says_so_in_the_thread(
    slack_app, gateway, clock, fake_slack
):
    client, alertmanager = slack_app
    gateway.receive(payload())
    _deliver(client)

    body, headers = _signed(clock, "silence_1h", payload()["groupKey"])
    response = client.post("/slack/actions", content=body, headers=headers)
    clock.advance(1)
    _deliver(client)

    assert response.status_code == 200
    [silence] = alertmanager.bodies
    assert silence["matchers"] == [
        {
            "name": "alertname",
            "value": "HighErrorRate",
            "isRegex": False,
            "isEqual": True,
        }
    ]
    assert silence["createdBy"] == "carol"
    [post, note] = fake_slack.posts()
    assert note.thread_ts == post.ts
    assert "sil-123" in note.text


def test_unsigned_or_stale_slack_requests_are_refused(slack_app, clock):
    client, alertmanager = slack_app
    body, headers = _signed(clock, "ack", "g", secret="wrong")
    stale_body, stale_headers = _signed(clock, "ack", "g", age=301)

    assert (
        client.post("/slack/actions", content=body, headers=headers).status_code == 401
    )
    stale = client.post("/slack/actions", content=stale_body, headers=stale_headers)
    assert stale.status_code == 401
    assert alertmanager.bodies == []


def test_dead_letters_are_shown_with_their_reason(slack_app, gateway, fake_slack):
    client, _ = slack_app
    fake_slack.fail_channel("#platform-alerts", "not_in_channel")
    gateway.receive(payload())
    _deliver(client)

    [letter] = client.get("/deadletters").json()

    assert letter["reason"] == "not_in_channel"
    assert letter["group_key"] == payload()["groupKey"]
    metrics = client.get("/metrics").text
    assert (
        'alert_gateway_notifications_dead_lettered_total{reason="not_in_channel"} 1.0'
        in (metrics)
    )


def test_ready_once_the_worker_runs_and_delivers(tmp_path, clock):
    store = SqliteStore(tmp_path / "ready.db")
    printed = io.StringIO()
    config = make_config(tmp_path / "ready.db")
    app = create_app(config, store, ConsoleSink(printed), clock)
    with TestClient(app) as client:
        ready = client.get("/readyz")
        client.post("/alertmanager", json=payload())
        delivered = _wait(lambda: store.queue_depth() == 0)
    store.close()

    assert ready.status_code == 200
    assert delivered
    assert "HighErrorRate" in printed.getvalue()


def _wait(check, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_the_documented_local_run_prints_the_example_webhook(tmp_path, clock):
    examples = Path(__file__).resolve().parents[2] / "examples" / "gateway"
    config = load_config(examples / "local.yml", environ={})
    config = config.model_copy(update={"database": str(tmp_path / "local.db")})
    store = SqliteStore(config.database)
    printed = io.StringIO()
    app = create_app(config, store, ConsoleSink(printed), clock, start_worker=False)
    try:
        with TestClient(app) as client:
            body = (examples / "webhook.json").read_bytes()
            response = client.post(
                "/alertmanager",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            app.state.gateway.deliverer.run_once()
    finally:
        store.close()

    assert response.json() == {"status": "stored"}
    assert "post to #platform-alerts" in printed.getvalue()
    assert "HighErrorRate" in printed.getvalue()
