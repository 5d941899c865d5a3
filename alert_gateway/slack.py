"""Posting messages to Slack, and what each answer means for delivery."""

from __future__ import annotations

import http.client
import itertools
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TextIO
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from alert_gateway.blocks import Message
from alert_gateway.pacing import ChannelPacer

log = logging.getLogger(__name__)

# slack_sdk logs whole request and response bodies at debug level, and every
# network failure at error level although we will retry it. Its records go to
# a logger of ours that passes only critical ones: each outcome is classified
# and logged below, with context and without alert contents or tokens.
_sdk_log = logging.getLogger(__name__ + ".sdk")
_sdk_log.setLevel(logging.CRITICAL)

DEFAULT_BASE_URL = "https://slack.com/api/"
DEFAULT_TIMEOUT_SECONDS = 10.0
# Used when a 429 comes without a usable Retry-After header.
DEFAULT_RETRY_AFTER_SECONDS = 1.0

# Errors that the same request will meet again however often it is retried.
# https://api.slack.com/methods/chat.postMessage#errors
# https://api.slack.com/methods/chat.update#errors
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "cant_update_message",
        "edit_window_closed",
        "ekm_access_denied",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "invalid_blocks_format",
        "is_archived",
        "message_not_found",
        "missing_scope",
        "msg_blocks_too_long",
        "msg_too_long",
        "no_permission",
        "no_text",
        "not_allowed_token_type",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
    }
)
RATE_LIMITED_ERRORS = frozenset({"ratelimited", "rate_limited"})
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")

DeliveryKind = Literal["ok", "retry", "permanent"]


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one call: done, worth retrying, or never going to work.

    `reason` is short and drawn from a small set, fit to be a metric label.
    """

    kind: DeliveryKind
    ts: str | None = None
    # On success the channel id Slack answered with; otherwise the one asked for.
    channel: str | None = None
    retry_after: float | None = None
    reason: str = "ok"

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class SlackSink(Protocol):
    """Where the gateway's messages go."""

    def post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        group_key: str = "",
        attempt: int = 1,
    ) -> DeliveryResult: ...

    def update(
        self,
        channel: str,
        ts: str,
        message: Message,
        *,
        group_key: str = "",
        attempt: int = 1,
    ) -> DeliveryResult: ...


class SlackWebSink:
    """Slack's Web API through slack_sdk, one HTTP call per method call.

    The sink never retries by itself: each answer is classified and returned,
    and the caller decides when to try again. Calls that would break a
    channel's pace are not sent; they come back as `retry` with reason `paced`.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        pacer: ChannelPacer | None = None,
    ) -> None:
        self.pacer = pacer or ChannelPacer()
        self._client = WebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,  # type: ignore[arg-type]
            retry_handlers=[],
            logger=_sdk_log,
        )

    def post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        group_key: str = "",
        attempt: int = 1,
    ) -> DeliveryResult:
        def call() -> Mapping[str, Any]:
            return self._client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            ).data  # type: ignore[return-value]

        return self._send("chat.postMessage", channel, call, group_key, attempt)

    def update(
        self,
        channel: str,
        ts: str,
        message: Message,
        *,
        group_key: str = "",
        attempt: int = 1,
    ) -> DeliveryResult:
        def call() -> Mapping[str, Any]:
            return self._client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            ).data  # type: ignore[return-value]

        return self._send("chat.update", channel, call, group_key, attempt)

    def check(self) -> DeliveryResult:
        """Whether the token works (`auth.test`), classified like a delivery."""
        try:
            self._client.auth_test()
        except Exception as error:
            result = _classify_failure(error)
            if result.retry_after is not None:
                self.pacer.defer_all(result.retry_after)
            return result
        return DeliveryResult("ok")

    def _send(
        self,
        method: str,
        channel: str,
        call: Callable[[], Mapping[str, Any]],
        group_key: str,
        attempt: int,
    ) -> DeliveryResult:
        wait = self.pacer.try_acquire(channel)
        if wait > 0:
            return DeliveryResult(
                "retry", channel=channel, retry_after=wait, reason="paced"
            )

        try:
            data = call()
        except Exception as error:
            result = replace(_classify_failure(error), channel=channel)
        else:
            ts = data.get("ts")
            result = DeliveryResult(
                "ok",
                ts=str(ts) if ts else None,
                channel=str(data.get("channel") or channel),
            )

        self.pacer.restart(channel)
        if result.kind == "ok" and result.channel:
            self.pacer.alias(channel, result.channel)
        if result.reason == "rate_limited" and result.retry_after is not None:
            self.pacer.defer(channel, result.retry_after)
        _log_result(method, channel, group_key, attempt, result)
        return result


def classify_response(
    status: int, headers: Mapping[str, str], data: Mapping[str, Any] | bytes | None
) -> DeliveryResult:
    """The delivery outcome of one HTTP answer from Slack's Web API."""
    body = data if isinstance(data, Mapping) else {}
    error = str(body.get("error") or "")

    if status == 429 or error in RATE_LIMITED_ERRORS:
        return DeliveryResult(
            "retry", retry_after=_retry_after(headers), reason="rate_limited"
        )
    if status >= 500:
        return DeliveryResult("retry", reason="server_error")
    if status == 200 and body.get("ok"):
        return DeliveryResult("ok", ts=body.get("ts"), channel=body.get("channel"))
    if error in PERMANENT_ERRORS:
        return DeliveryResult("permanent", reason=error)

    # An error we do not know may be new or transient on Slack's side; retrying
    # with backoff costs a little time, while giving up would lose the message.
    if status != 200:
        return DeliveryResult("retry", reason="http_error")
    reason = error if _ERROR_CODE.fullmatch(error) else "unknown_error"
    return DeliveryResult("retry", reason=reason)


def _classify_failure(error: Exception) -> DeliveryResult:
    if isinstance(error, SlackApiError):
        response = error.response
        return classify_response(response.status_code, response.headers, response.data)
    if isinstance(error, TimeoutError) or (
        isinstance(error, URLError) and isinstance(error.reason, TimeoutError)
    ):
        return DeliveryResult("retry", reason="timeout")
    if isinstance(error, OSError | http.client.HTTPException):
        return DeliveryResult("retry", reason="connection_error")
    if isinstance(error, SlackClientError):
        # Raised before any request leaves, e.g. for a base URL that is not HTTP.
        return DeliveryResult("permanent", reason="client_error")
    raise error


def _retry_after(headers: Mapping[str, str]) -> float:
    value = None
    for name, candidate in headers.items():
        if name.lower() == "retry-after":
            value = candidate
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    return max(seconds, 0.0)


def _log_result(
    method: str, channel: str, group_key: str, attempt: int, result: DeliveryResult
) -> None:
    context = {
        "method": method,
        "channel": channel,
        "group_key": group_key,
        "attempt": attempt,
        "reason": result.reason,
    }
    if result.kind == "ok":
        level = logging.INFO if attempt > 1 else logging.DEBUG
        log.log(level, "slack call succeeded", extra={**context, "ts": result.ts})
    elif result.kind == "retry" and result.reason != "paced":
        context["retry_after"] = result.retry_after
        log.warning("slack call failed, will retry", extra=context)
    elif result.kind == "permanent":
        log.error("slack refused the call for good", extra=context)


class ConsoleSink:
    """Prints what would be posted; used when no Slack token is configured."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._epoch = int(time.time())

    def post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        group_key: str = "",
        attempt: int = 1,
    ) -> DeliveryResult:
        ts = self._next_ts()
        where = f"{channel} (thread {thread_ts})" if thread_ts else channel
        self._print(f"post to {where} ts={ts}", message)
        return DeliveryResult("ok", ts=ts, channel=channel)

    def update(
        self,
        channel: str,
        ts: str,
        message: Message,
        *,
        group_key: str = "",
        attempt: int = 1,
    ) -> DeliveryResult:
        self._print(f"update {channel} ts={ts}", message)
        return DeliveryResult("ok", ts=ts, channel=channel)

    def _next_ts(self) -> str:
        with self._lock:
            return f"{self._epoch}.{next(self._counter):06d}"

    def _print(self, title: str, message: Message) -> None:
        lines = [f"--- slack: {title}", message.text]
        for block in message.blocks:
            lines.extend(_block_texts(block))
        with self._lock:
            stream = self._stream or sys.stdout
            stream.write("\n".join(lines) + "\n")
            stream.flush()


def _block_texts(block: Mapping[str, Any]) -> list[str]:
    texts = []
    text = block.get("text")
    if isinstance(text, Mapping) and text.get("text"):
        texts.append(str(text["text"]))
    for element in block.get("elements", []):
        label = element.get("text")
        if isinstance(label, Mapping):
            texts.append(f"[{label.get('text', '')}]")
        elif isinstance(label, str):
            texts.append(label)
    return texts
