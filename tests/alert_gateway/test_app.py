"""The webhook API's answers: auth, size, JSON, shape, dedup, and a failing store."""

from __future__ import annotations

import io
import json
from concurrent.futures import Future

import pytest
from fastapi.testclient import TestClient

from alert_gateway.app import MAX_BODY_BYTES, create_app
from alert_gateway.slack import ConsoleSink
from alert_gateway.store import SqliteStore, StoreUnavailable
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
    def submit(self, notification, payload, *, team, now) -> Future:
        future: Future = Future()
        future.set_exception(StoreUnavailable("disk I/O error"))
        return future


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


def test_refuses_webhooks_while_draining(client):
    client.app.state.gateway.begin_drain()

    assert client.post("/alertmanager", json=payload()).status_code == 503
