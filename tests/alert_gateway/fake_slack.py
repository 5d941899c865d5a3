"""A local stand-in for the parts of Slack's Web API the gateway calls.

It speaks `chat.postMessage`, `chat.update` and `auth.test` in Slack's JSON
shapes on 127.0.0.1, records every call it accepts, and can be told to
misbehave the way Slack does: 429 with `Retry-After`, 5xx, `ok: false` errors.
Point `slack_sdk.WebClient(base_url=fake.base_url)` at it.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

# Slack refuses content beyond these; the fake refuses it too so that tests
# notice a message the real API would reject.
MESSAGE_TEXT_MAX_CHARS = 40_000
MESSAGE_MAX_BLOCKS = 50
SECTION_TEXT_MAX_CHARS = 3_000
HEADER_TEXT_MAX_CHARS = 150
CONTEXT_MAX_ELEMENTS = 10

DEFAULT_TOKEN = "xoxb-fake-token"


@dataclass(frozen=True)
class SlackCall:
    """One call the fake accepted."""

    method: str
    channel: str
    channel_id: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]]
    at: float  # on the fake's clock


@dataclass
class _Script:
    reject_all_until: float = 0.0
    per_channel_interval: float = 0.0
    fail_next: list[tuple[int, str | None]] = field(default_factory=list)
    failing_channels: dict[str, tuple[int, str]] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)


class FakeSlack:
    """Slack's Web API on a threaded local HTTP server; a context manager."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.token = token
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[SlackCall] = []
        self._messages: dict[tuple[str, str], SlackCall] = {}
        self._last_accepted: dict[str, float] = {}
        self._names: dict[str, str] = {}
        self._script = _Script()
        self._counter = 0
        self._epoch = int(time.time())
        # Calls refused by a script or by the content checks (429, 5xx, ok: false).
        self.rejected = 0
        # Calls waiting unanswered while the fake is held (see `hold`).
        self.held = 0
        self._released = threading.Event()
        self._released.set()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def __enter__(self) -> FakeSlack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-slack",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # Scripting -------------------------------------------------------------

    def reject_all_until(self, deadline: float) -> None:
        """Answer 429 to every call until `deadline` on the fake's clock."""
        with self._lock:
            self._script.reject_all_until = deadline

    def reject_all_for(self, seconds: float) -> None:
        """Answer 429 to every call for the next `seconds`."""
        self.reject_all_until(self._clock() + seconds)

    def limit_rate_per_channel(self, per_second: float) -> None:
        """Answer 429 to posts and updates that come faster than this per channel."""
        with self._lock:
            self._script.per_channel_interval = 1.0 / per_second if per_second else 0.0

    def fail_next(
        self, count: int, *, status: int = 500, error: str | None = None
    ) -> None:
        """Fail the next `count` calls: HTTP `status`, or `ok: false` with `error`."""
        with self._lock:
            self._script.fail_next.extend([(status, error)] * count)

    def fail_channel(
        self, channel: str, error: str = "channel_not_found", *, status: int = 200
    ) -> None:
        """Fail every call for this channel: `ok: false` with `error`, or `status`."""
        with self._lock:
            self._script.failing_channels[self.channel_id(channel)] = (status, error)

    def delay_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` calls for `seconds` before answering them.

        Like Slack, the fake still accepts a call whose client gave up waiting,
        so a retry after a timeout posts twice.
        """
        with self._lock:
            self._script.delays.extend([seconds] * count)

    def hold(self) -> None:
        """Keep every call from now on waiting, unanswered, until `release`."""
        self._released.clear()

    def release(self) -> None:
        """Answer the held calls, and the later ones at once."""
        self._released.set()

    def _wait_while_held(self) -> None:
        if self._released.is_set():
            return
        with self._changed:
            self.held += 1
            self._changed.notify_all()
        self._released.wait()
        with self._changed:
            self.held -= 1

    def heal(self) -> None:
        """Forget every scripted failure."""
        with self._lock:
            self._script = _Script()

    # Inspection ------------------------------------------------------------

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    def posts(self, channel: str | None = None) -> list[SlackCall]:
        """Accepted `chat.postMessage` calls, optionally for one channel."""
        return self._select("chat.postMessage", channel)

    def updates(self, channel: str | None = None) -> list[SlackCall]:
        """Accepted `chat.update` calls, optionally for one channel."""
        return self._select("chat.update", channel)

    def message(self, channel: str, ts: str) -> SlackCall | None:
        """The current version of a message, after any updates."""
        with self._lock:
            return self._messages.get((self.channel_id(channel), ts))

    def wait_for(
        self, predicate: Callable[[list[SlackCall]], bool], timeout: float = 5.0
    ) -> bool:
        """Block until `predicate(calls)` holds or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self._calls)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
            return True

    @staticmethod
    def channel_id(channel: str) -> str:
        """The id Slack would give a channel name; ids are returned unchanged."""
        if _looks_like_id(channel):
            return channel
        digest = hashlib.sha1(channel.lstrip("#").encode()).hexdigest()[:10]
        return "C" + digest.upper()

    def _select(self, method: str, channel: str | None) -> list[SlackCall]:
        wanted = None if channel is None else self.channel_id(channel)
        return [
            call
            for call in self.calls
            if call.method == method and (wanted is None or call.channel_id == wanted)
        ]

    # Answering -------------------------------------------------------------

    def answer(
        self, method: str, token: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Status, headers and JSON body for one API call."""
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if method not in ("chat.postMessage", "chat.update", "auth.test"):
            return 200, {}, {"ok": False, "error": "unknown_method"}

        channel = str(params.get("channel") or "")
        with self._changed:
            if method == "auth.test":
                return self._answer_auth_test()
            refusal = self._refusal(channel)
            if refusal is None:
                refusal = _content_refusal(params)
            if refusal is None:
                return self._accept(method, channel, params)
            self.rejected += 1
            return refusal

    def _take_delay(self) -> float:
        with self._lock:
            return self._script.delays.pop(0) if self._script.delays else 0.0

    def _answer_auth_test(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self._clock() < self._script.reject_all_until:
            return _rate_limited(self._script.reject_all_until - self._clock())
        return 200, {}, {"ok": True, "user_id": "UFAKEBOT", "team": "fake"}

    def _refusal(
        self, channel: str
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        now = self._clock()
        script = self._script
        if now < script.reject_all_until:
            return _rate_limited(script.reject_all_until - now)
        if script.fail_next:
            status, error = script.fail_next.pop(0)
            if error is not None:
                return 200, {}, {"ok": False, "error": error}
            return status, {}, {"ok": False, "error": "fatal_error"}
        if not channel:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        channel_id = self.channel_id(channel)
        if channel_id in script.failing_channels:
            status, error = script.failing_channels[channel_id]
            return status, {}, {"ok": False, "error": error}

        last = self._last_accepted.get(channel_id)
        interval = script.per_channel_interval
        if interval and last is not None and now - last < interval:
            return _rate_limited(interval - (now - last))
        return None

    def _accept(
        self, method: str, channel: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        channel_id = self.channel_id(channel)
        if not _looks_like_id(channel):
            self._names[channel_id] = channel
        if method == "chat.update":
            ts = str(params.get("ts") or "")
            if (channel_id, ts) not in self._messages:
                return 200, {}, {"ok": False, "error": "message_not_found"}
        else:
            self._counter += 1
            ts = f"{self._epoch}.{self._counter:06d}"

        thread_ts = params.get("thread_ts")
        call = SlackCall(
            method=method,
            channel=self._names.get(channel_id, channel_id),
            channel_id=channel_id,
            ts=ts,
            thread_ts=str(thread_ts) if thread_ts else None,
            text=str(params.get("text") or ""),
            blocks=_blocks_of(params),
            at=self._clock(),
        )
        self._calls.append(call)
        self._messages[(channel_id, ts)] = call
        self._last_accepted[channel_id] = call.at
        self._changed.notify_all()

        shown = {"text": call.text, "blocks": call.blocks, "ts": ts, "type": "message"}
        return 200, {}, {"ok": True, "channel": channel_id, "ts": ts, "message": shown}


def _looks_like_id(channel: str) -> bool:
    return (
        len(channel) >= 9
        and channel[0] in "CGD"
        and channel.isalnum()
        and (channel.upper() == channel)
    )


def _rate_limited(seconds: float) -> tuple[int, dict[str, str], dict[str, Any]]:
    # Slack sends whole seconds; round up so a client that obeys is not early.
    retry_after = str(max(1, math.ceil(seconds)))
    return 429, {"Retry-After": retry_after}, {"ok": False, "error": "ratelimited"}


def _blocks_of(params: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = params.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return list(blocks)


def _content_refusal(
    params: dict[str, Any],
) -> tuple[int, dict[str, str], dict[str, Any]] | None:
    text = str(params.get("text") or "")
    try:
        blocks = _blocks_of(params)
    except ValueError:
        return 200, {}, {"ok": False, "error": "invalid_blocks_format"}
    if not text and not blocks:
        return 200, {}, {"ok": False, "error": "no_text"}
    if _utf16_length(text) > MESSAGE_TEXT_MAX_CHARS:
        return 200, {}, {"ok": False, "error": "msg_too_long"}
    if len(blocks) > MESSAGE_MAX_BLOCKS or not all(_block_fits(b) for b in blocks):
        return 200, {}, {"ok": False, "error": "invalid_blocks"}
    return None


def _block_fits(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    text = (block.get("text") or {}).get("text", "")
    if kind == "header":
        return 0 < _utf16_length(text) <= HEADER_TEXT_MAX_CHARS
    if kind == "section" and not block.get("fields"):
        return 0 < _utf16_length(text) <= SECTION_TEXT_MAX_CHARS
    elements = block.get("elements") or []
    if kind == "context":
        return 0 < len(elements) <= CONTEXT_MAX_ELEMENTS and all(
            e.get("text") for e in elements if e.get("type") == "mrkdwn"
        )
    return _utf16_length(text) <= SECTION_TEXT_MAX_CHARS


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has hung up; Slack would not complain either.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            method = self.path.rsplit("/", 1)[-1].split("?", 1)[0]
            params = _parse_body(self.headers.get("Content-Type") or "", raw)
            auth = self.headers.get("Authorization") or ""
            token = auth.removeprefix("Bearer ").strip() or str(params.get("token", ""))

            fake._wait_while_held()
            delay = fake._take_delay()
            if delay:
                time.sleep(delay)
            status, headers, body = fake.answer(method, token, params)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        return dict(json.loads(raw))
    form = parse_qs(raw.decode(), keep_blank_values=True)
    return {key: values[-1] for key, values in form.items()}
