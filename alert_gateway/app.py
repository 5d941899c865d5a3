"""The gateway's HTTP interface: webhooks in, Slack actions, on-call, operations.

Once a webhook's payload is valid the answer is 200 (stored, perhaps as a
duplicate) or 503 (not stored, retry): Alertmanager drops a notification
answered with a 4xx, so the gateway never answers one for a reason of its own.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from alert_gateway.blocks import ACK_ACTION_ID, SILENCE_ACTION_ID, build_silenced_reply
from alert_gateway.clock import Clock, utc
from alert_gateway.config import GatewayConfig
from alert_gateway.delivery import Deliverer, load_state, note_text
from alert_gateway.escalation import Escalator
from alert_gateway.metrics import GatewayMetrics
from alert_gateway.oncall import (
    OutOfRangeError,
    check_moment,
    on_call,
    schedule,
    to_ical,
)
from alert_gateway.pacing import ChannelPacer
from alert_gateway.payload import Notification
from alert_gateway.signing import (
    ActionPayloadError,
    parse_action,
    verify_slack_signature,
)
from alert_gateway.silences import SilenceError, create_silence
from alert_gateway.slack import SlackSink
from alert_gateway.store import GroupRecord, Store, StoreUnavailable
from alert_gateway.worker import Worker

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
SILENCE_DURATION = timedelta(hours=1)
_STORED = b'{"status":"stored"}'
_DUPLICATE = b'{"status":"duplicate"}'


class _BodyTooLarge(Exception):
    """Raised while reading a request body that goes past MAX_BODY_BYTES."""


@dataclass
class Gateway:
    """What the routes share: the worker, the metrics, and whether we are stopping."""

    config: GatewayConfig
    store: Store
    clock: Clock
    metrics: GatewayMetrics
    deliverer: Deliverer
    worker: Worker
    draining: bool = False
    silence_session: Any = None

    def begin_drain(self) -> None:
        """Refuse new webhooks with 503 from now on; Alertmanager will retry them."""
        self.draining = True


def create_app(
    config: GatewayConfig,
    store: Store,
    sink: SlackSink,
    clock: Clock,
    *,
    metrics: GatewayMetrics | None = None,
    pacer: ChannelPacer | None = None,
    start_worker: bool = True,
    silence_session: Any = None,
) -> FastAPI:
    """The FastAPI application; its lifespan runs the delivery worker.

    `pacer` is the one the sink writes through, so that the worker sends only
    what the sink will let go.
    """
    metrics = metrics or GatewayMetrics(queue_depth=store.queue_depth)
    deliverer = Deliverer(config, store, sink, metrics, clock, pacer=pacer)
    escalator = Escalator(deliverer)
    worker = Worker(deliverer, after_pass=escalator.run)

    def arrived(group_keys: list[str]) -> None:
        deliverer.arrived(group_keys)
        worker.wake()

    store.set_on_commit(arrived)
    gateway = Gateway(
        config,
        store,
        clock,
        metrics,
        deliverer,
        worker,
        silence_session=silence_session,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_worker:
            worker.start()
        yield
        gateway.begin_drain()
        await run_in_threadpool(worker.stop)

    app = FastAPI(
        title="alert-gateway", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.gateway = gateway
    app.add_exception_handler(RequestValidationError, _invalid_parameters)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    _webhook_routes(app, gateway)
    _slack_routes(app, gateway)
    _oncall_routes(app, gateway)
    _operation_routes(app, gateway)
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _invalid_parameters(
    request: Request, error: RequestValidationError
) -> JSONResponse:
    # Every 4xx of the gateway has the same short shape, FastAPI's own included.
    problems = error.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"] if part != "query")
    message = str(first["msg"]).replace("Input should be", "expected")
    if "input" in first:
        message += f", got {first['input']!r}"
    return _error(400, f"{where or 'request'}: {message}")


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    response = _error(error.status_code, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    return response


def _bearer_token(request: Request) -> bytes:
    """The credentials of an `Authorization: Bearer ...` header, else nothing.

    The scheme's name is compared without regard to case, as HTTP wants.
    """
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return b""
    return credentials.strip().encode()


def _webhook_routes(app: FastAPI, gateway: Gateway) -> None:
    token = gateway.config.secret("webhook_bearer_token")
    expected = token.encode() if token else None

    async def receive(request: Request) -> Response:
        team = request.path_params.get("team")
        if gateway.draining:
            return _error(503, "shutting down")
        authorized = expected is None or hmac.compare_digest(
            _bearer_token(request), expected
        )
        if not authorized:
            return _error(401, "missing or wrong bearer token")
        try:
            body = await _read_body(request)
        except _BodyTooLarge:
            return _error(413, f"payload larger than {MAX_BODY_BYTES} bytes")

        try:
            notification = Notification.model_validate_json(body)
        except ValidationError as error:
            return _invalid(error)
        gateway.metrics.received.inc()

        try:
            accepted = await gateway.store.accept(
                notification, body, team=team, now=gateway.clock.now()
            )
        except StoreUnavailable as error:
            log.error("notification not stored", extra={"error": str(error)})
            return _error(503, "cannot store the notification now, retry")
        if accepted.duplicate:
            gateway.metrics.deduplicated.inc()
            return Response(_DUPLICATE, media_type="application/json")
        return Response(_STORED, media_type="application/json")

    # Plain routes: FastAPI's parameter solving would double the cost of a webhook.
    app.add_route("/alertmanager", receive, methods=["POST"])
    app.add_route("/alertmanager/{team}", receive, methods=["POST"])


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _invalid(error: ValidationError) -> JSONResponse:
    problems = error.errors(include_url=False, include_input=False)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return _error(400, "body is not valid JSON")
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return _error(422, f"not an Alertmanager v4 payload: {where}: {first['msg']}{more}")


def _slack_routes(app: FastAPI, gateway: Gateway) -> None:
    secret = gateway.config.secret("slack_signing_secret")

    @app.post("/slack/actions")
    async def slack_actions(request: Request) -> Response:
        if secret is None:
            return _error(404, "Slack actions are not configured")
        try:
            body = await _read_body(request)
        except _BodyTooLarge:
            return _error(413, f"payload larger than {MAX_BODY_BYTES} bytes")
        signed = verify_slack_signature(
            secret,
            request.headers.get("x-slack-request-timestamp", ""),
            body,
            request.headers.get("x-slack-signature", ""),
            now=gateway.clock.now(),
        )
        if not signed:
            return _error(401, "bad or expired Slack signature")
        try:
            action = parse_action(body)
        except ActionPayloadError as error:
            return _error(400, str(error))

        record = await run_in_threadpool(gateway.store.find_group, action.value)
        if record is None:
            return _error(404, "unknown alert group")
        if action.action_id == ACK_ACTION_ID:
            return await _acknowledge(gateway, record, action.user_id)
        if action.action_id == SILENCE_ACTION_ID:
            return await _silence(gateway, record, action.user_id, action.user_name)
        return _error(400, f"unknown action {action.action_id!r}")


async def _acknowledge(gateway: Gateway, record: GroupRecord, user_id: str) -> Response:
    context = {"group_key": record.group_key, "channel": record.channel}
    if record.current_acknowledgement == user_id:
        # A second click changes nothing the message shows: no second update.
        log.info("already acknowledged", extra={**context, "user": user_id})
        return JSONResponse({})
    now = gateway.clock.now()
    await run_in_threadpool(
        gateway.store.acknowledge, record.group_key, user=user_id, now=now
    )
    gateway.worker.wake()
    log.info("acknowledged", extra={**context, "user": user_id})
    return JSONResponse({})


async def _silence(
    gateway: Gateway, record: GroupRecord, user_id: str, user_name: str
) -> Response:
    url = gateway.config.alertmanager_url
    state = load_state(record.state)
    if url is None or state is None:
        return _error(503, "no alertmanager_url configured")
    matchers = dict(state.group_labels) or dict(state.common_labels)
    now = utc(gateway.clock.now())
    try:
        silence_id = await run_in_threadpool(
            lambda: create_silence(
                url,
                matchers,
                duration=SILENCE_DURATION,
                created_by=user_name or user_id,
                comment=f"Silenced from Slack, alert group {record.group_key}",
                now=now,
                session=gateway.silence_session,
            )
        )
    except SilenceError as error:
        log.error(
            "silence failed",
            extra={
                "group_key": record.group_key,
                "channel": record.channel,
                "error": str(error),
            },
        )
        return _error(502, str(error))

    reply = build_silenced_reply(user_id, silence_id, now + SILENCE_DURATION)
    await run_in_threadpool(
        gateway.store.add_note, record.group_key, note_text(reply), now=now.timestamp()
    )
    gateway.worker.wake()
    log.info(
        "silenced",
        extra={
            "group_key": record.group_key,
            "channel": record.channel,
            "user": user_id,
            "silence_id": silence_id,
        },
    )
    return JSONResponse({})


def _oncall_routes(app: FastAPI, gateway: Gateway) -> None:
    config = gateway.config

    @app.get("/oncall")
    async def oncall_now(at: str | None = None, team: str | None = None) -> Response:
        try:
            moment = _moment(at, gateway.clock)
        except ValueError as error:
            return _error(400, str(error))
        teams = [t for t in config.teams if team is None or t.name == team]
        if team is not None and not teams:
            return _error(404, f"no team named {team!r}")
        body = {"at": moment.isoformat(), "teams": []}
        for item in teams:
            rotation = config.rotation(item.rotation)
            layers = {}
            if rotation is not None:
                for layer in rotation.layers:
                    holder = on_call(rotation, moment, layer.name)
                    layers[layer.name] = (
                        None if holder is None else _on_call_json(holder)
                    )
            body["teams"].append(
                {"team": item.name, "rotation": item.rotation, "layers": layers}
            )
        return JSONResponse(body)

    @app.get("/oncall.ics")
    async def oncall_calendar(team: str | None = None, weeks: int = 4) -> Response:
        now = utc(gateway.clock.now())
        if team is not None and config.team(team) is None:
            return _error(404, f"no team named {team!r}")
        names = {t.rotation for t in config.teams if team is None or t.name == team}
        rotations = [r for r in config.rotations if team is None or r.name in names]
        entries = []
        for rotation in rotations:
            start = now - timedelta(days=7)
            entries += schedule(
                rotation, start, now + timedelta(weeks=max(1, min(weeks, 52)))
            )
        return Response(to_ical(entries, now=now), media_type="text/calendar")


def _moment(text: str | None, clock: Clock) -> datetime:
    """The moment asked for, or now; ValueError with a message for the client."""
    if text is None:
        return utc(clock.now())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("at must be an ISO 8601 time with a UTC offset") from None
    if moment.tzinfo is None:
        raise ValueError("at must be an ISO 8601 time with a UTC offset")
    try:
        check_moment(moment, "at")
    except OutOfRangeError:
        raise ValueError(f"at must be in the years 1900 to 8999, got {text}") from None
    return moment


def _on_call_json(holder) -> dict[str, str]:
    return {
        "member": holder.member,
        "slack_id": holder.slack_id,
        "start": holder.start.isoformat(),
        "end": holder.end.isoformat(),
    }


def _operation_routes(app: FastAPI, gateway: Gateway) -> None:
    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        problems = []
        try:
            await run_in_threadpool(gateway.store.check_writable, gateway.clock.now())
        except StoreUnavailable as error:
            problems.append(f"database not writable: {error}")
        if not gateway.store.writer_alive():
            problems.append("store writer stopped")
        if not gateway.worker.alive():
            problems.append("delivery worker not running")
        if gateway.draining:
            problems.append("shutting down")
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, 503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        text = await run_in_threadpool(generate_latest, gateway.metrics.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    @app.get("/deadletters")
    async def dead_letters(limit: int = 100) -> Response:
        letters = await run_in_threadpool(
            lambda: gateway.store.dead_letters(limit=max(1, min(limit, 1000)))
        )
        return JSONResponse(
            [
                {
                    "id": letter.id,
                    "notification_id": letter.notification_id,
                    "group_key": letter.group_key,
                    "channel": letter.channel,
                    "reason": letter.reason,
                    "received_at": utc(letter.received_at).isoformat(),
                    "failed_at": utc(letter.failed_at).isoformat(),
                }
                for letter in letters
            ]
        )
