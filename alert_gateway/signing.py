"""Requests from Slack: checking their signature and reading button clicks.

https://api.slack.com/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

SIGNATURE_VERSION = "v0"
# Slack's advice: refuse requests whose timestamp is further than this from now,
# so a captured request cannot be replayed later.
MAX_AGE_SECONDS = 300


class ActionPayloadError(ValueError):
    """Raised when an interaction request has no readable block action in it."""


@dataclass(frozen=True)
class Action:
    """One button click on one of our messages."""

    action_id: str
    value: str
    user_id: str
    user_name: str
    channel: str
    message_ts: str
    response_url: str = ""


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` header value Slack sends for this body."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_slack_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    max_age_seconds: int = MAX_AGE_SECONDS,
) -> bool:
    """Whether the request was signed by Slack with `secret` within the allowed age.

    Timestamps too far in the past or in the future are both refused.
    """
    if not secret or not signature:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > max_age_seconds:
        return False

    expected = slack_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.encode())


def parse_action(body: bytes | str) -> Action:
    """The first block action in an interaction request's `payload` form field."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    fields = parse_qs(text, keep_blank_values=True)
    if "payload" not in fields:
        raise ActionPayloadError("the request has no payload field")
    try:
        payload = json.loads(fields["payload"][0])
    except ValueError as error:
        raise ActionPayloadError("the payload field is not JSON") from error
    if not isinstance(payload, dict):
        raise ActionPayloadError("the payload is not a JSON object")

    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise ActionPayloadError("the payload holds no action")
    action = actions[0]
    user = _object(payload, "user")
    channel = _object(payload, "channel")
    container = _object(payload, "container")
    message = _object(payload, "message")

    action_id = str(action.get("action_id") or "")
    if not action_id:
        raise ActionPayloadError("the action has no action_id")
    return Action(
        action_id=action_id,
        value=str(action.get("value") or ""),
        user_id=str(user.get("id") or ""),
        user_name=str(user.get("username") or user.get("name") or ""),
        channel=str(channel.get("id") or container.get("channel_id") or ""),
        message_ts=str(message.get("ts") or container.get("message_ts") or ""),
        response_url=str(payload.get("response_url") or ""),
    )


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}
