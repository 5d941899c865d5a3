import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from alert_gateway.signing import (
    ActionPayloadError,
    parse_action,
    slack_signature,
    verify_slack_signature,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
NOW = 1_765_000_000.0


def signed(body: bytes = BODY, timestamp: int = int(NOW), secret: str = SECRET) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    signature: str,
    *,
    timestamp: str = str(int(NOW)),
    body: bytes = BODY,
    now: float = NOW,
) -> bool:
    return verify_slack_signature(SECRET, timestamp, body, signature, now=now)


def test_signature_made_with_the_secret_is_accepted() -> None:
    assert verify(signed())
    assert slack_signature(SECRET, str(int(NOW)), BODY) == signed()


def test_signature_made_with_another_secret_is_refused() -> None:
    assert not verify(signed(secret="another-secret"))


def test_changed_body_is_refused() -> None:
    assert not verify(signed(), body=BODY + b"x")


@pytest.mark.parametrize("age", [301, 3600, -301, -3600])
def test_requests_more_than_five_minutes_away_are_refused(age: int) -> None:
    timestamp = int(NOW) - age

    assert not verify(signed(timestamp=timestamp), timestamp=str(timestamp))


@pytest.mark.parametrize("age", [0, 299, 300, -300])
def test_requests_within_five_minutes_are_accepted(age: int) -> None:
    timestamp = int(NOW) - age

    assert verify(signed(timestamp=timestamp), timestamp=str(timestamp))


@pytest.mark.parametrize("timestamp", ["", "soon", "1.5e9", "None"])
def test_unreadable_timestamps_are_refused(timestamp: str) -> None:
    assert not verify(signed(), timestamp=timestamp)


@pytest.mark.parametrize(
    "signature", ["", "v0=", "v1=" + signed()[3:], signed().upper()]
)
def test_malformed_signatures_are_refused(signature: str) -> None:
    assert not verify(signature)


def test_empty_secret_refuses_everything() -> None:
    assert not verify_slack_signature(
        "", str(int(NOW)), BODY, signed(secret=""), now=NOW
    )


def action_body(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_button_click_is_read_from_the_payload_field() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE", "username": "alice", "name": "alice"},
        "channel": {"id": "C0ALERTS1", "name": "alerts"},
        "container": {"type": "message", "message_ts": "1765000000.000100"},
        "message": {"ts": "1765000000.000100", "text": "[FIRING:1]"},
        "response_url": "https://hooks.slack.com/actions/T/1/abc",
        "actions": [
            {
                "action_id": "ack",
                "block_id": "b1",
                "type": "button",
                "value": '{}:{alertname="X"}',
            }
        ],
    }

    action = parse_action(action_body(payload))

    assert action.action_id == "ack"
    assert action.value == '{}:{alertname="X"}'
    assert (action.user_id, action.user_name) == ("U0ALICE", "alice")
    assert (action.channel, action.message_ts) == ("C0ALERTS1", "1765000000.000100")
    assert action.response_url.endswith("/abc")


def test_channel_and_ts_fall_back_to_the_container() -> None:
    payload = {
        "user": {"id": "U0BOB", "name": "bob"},
        "container": {"channel_id": "C0X", "message_ts": "1.2"},
        "actions": [{"action_id": "silence_1h", "value": "g"}],
    }

    action = parse_action(action_body(payload).decode())

    assert (action.channel, action.message_ts, action.user_name) == (
        "C0X",
        "1.2",
        "bob",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"text=hello",
        b"payload=not-json",
        action_body(["a list"]),
        action_body({"actions": []}),
        action_body({"actions": [{"value": "no id"}]}),
    ],
)
def test_requests_without_a_readable_action_are_refused(body: bytes) -> None:
    with pytest.raises(ActionPayloadError):
        parse_action(body)
