import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from alert_gateway.silences import SilenceError, create_silence

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


class FakeAlertmanager:
    """Answers `POST /api/v2/silences` and remembers what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.status = 200
        self.answer: object = {"silenceID": "4f3c-silence"}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fake.received.append((self.path, json.loads(self.rfile.read(length))))
                body = json.dumps(fake.answer).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def alertmanager() -> Iterator[FakeAlertmanager]:
    fake = FakeAlertmanager()
    thread = threading.Thread(
        target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def silence(url: str, **overrides: object) -> str:
    options: dict = {
        "duration": timedelta(hours=1),
        "created_by": "alice",
        "comment": "Silenced from Slack",
        "now": NOW,
    }
    options.update(overrides)
    return create_silence(url, {"team": "platform", "alertname": "X"}, **options)


def test_silence_matches_every_group_label_for_the_duration(
    alertmanager: FakeAlertmanager,
) -> None:
    silence_id = silence(alertmanager.url + "/")

    assert silence_id == "4f3c-silence"
    [(path, body)] = alertmanager.received
    assert path == "/api/v2/silences"
    assert body["matchers"] == [
        {"name": "alertname", "value": "X", "isRegex": False, "isEqual": True},
        {"name": "team", "value": "platform", "isRegex": False, "isEqual": True},
    ]
    starts = datetime.fromisoformat(body["startsAt"])
    ends = datetime.fromisoformat(body["endsAt"])
    assert starts == NOW and ends - starts == timedelta(hours=1)
    assert (body["createdBy"], body["comment"]) == ("alice", "Silenced from Slack")


def test_a_given_session_is_used(alertmanager: FakeAlertmanager) -> None:
    with requests.Session() as session:
        assert silence(alertmanager.url, session=session) == "4f3c-silence"


def test_refusal_names_the_status_and_hides_credentials(
    alertmanager: FakeAlertmanager,
) -> None:
    alertmanager.status = 400
    alertmanager.answer = {"error": "bad matchers"}
    url = alertmanager.url.replace("http://", "http://admin:s3cret@") + "?token=t0k"

    with pytest.raises(SilenceError) as raised:
        silence(url)

    assert "HTTP 400" in str(raised.value)
    assert "s3cret" not in str(raised.value) and "t0k" not in str(raised.value)


def test_answer_without_an_id_is_an_error(alertmanager: FakeAlertmanager) -> None:
    alertmanager.answer = {"unexpected": True}

    with pytest.raises(SilenceError, match="without a silence id"):
        silence(alertmanager.url)


def test_unreachable_alertmanager_is_an_error_without_secrets(
    alertmanager: FakeAlertmanager,
) -> None:
    port = alertmanager.server.server_address[1]
    alertmanager.server.shutdown()
    alertmanager.server.server_close()

    with pytest.raises(SilenceError) as raised:
        silence(f"http://admin:s3cret@127.0.0.1:{port}")

    assert "could not reach Alertmanager" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_silence_without_matchers_or_duration_is_refused() -> None:
    with pytest.raises(SilenceError):
        create_silence(
            "http://127.0.0.1:9",
            {},
            duration=timedelta(hours=1),
            created_by="a",
            comment="c",
            now=NOW,
        )
    with pytest.raises(SilenceError):
        silence("http://127.0.0.1:9", duration=timedelta(0))
