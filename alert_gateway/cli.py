"""`alert-gateway`: run the gateway, and ask its rotations who is on call."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import click
import uvicorn

from alert_gateway import logs
from alert_gateway.config import ConfigError, GatewayConfig, load_config
from alert_gateway.oncall import (
    OnCall,
    OutOfRangeError,
    check_moment,
    on_call,
    schedule,
)
from alert_gateway.pacing import ChannelPacer

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The gateway.yml file.",
)


def _load(path: str, *, secrets: bool = True) -> GatewayConfig:
    try:
        return load_config(path, resolve_secrets=secrets)
    except ConfigError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise SystemExit(error.exit_code) from None


@click.group()
def main() -> None:
    """Alertmanager webhooks to Slack, with on-call rotations."""


@main.command()
@_CONFIG
@click.option("--host", help="Address to listen on (default: listen.host).")
@click.option("--port", type=int, help="Port to listen on (default: listen.port).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def serve(
    config_path: str, host: str | None, port: int | None, log_format: str
) -> None:
    """Receive webhooks on /alertmanager and deliver them to Slack."""
    logs.configure(log_format)  # type: ignore[arg-type]
    config = _load(config_path)
    host = host or config.listen.host
    port = port or config.listen.port

    from alert_gateway.app import create_app
    from alert_gateway.clock import SystemClock
    from alert_gateway.sqlite_store import SqliteStore

    # The port first: an instance that cannot listen must not deliver either,
    # and the worker starts with the app, after this.
    try:
        listener = _listen(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        message = f"{config_path}: listen: cannot listen on {host}:{port}: {reason}"
        click.echo(message, err=True)
        raise SystemExit(2) from None
    try:
        store = SqliteStore(config.database)
    except (OSError, sqlite3.Error) as error:
        listener.close()
        message = f"{config_path}: database: cannot open {config.database}: {error}"
        click.echo(message, err=True)
        raise SystemExit(2) from None
    pacer = ChannelPacer(config.slack.min_interval_per_channel_seconds)
    app = create_app(config, store, _sink(config, pacer), SystemClock(), pacer=pacer)
    server = _DrainingServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        ),
        on_exit=app.state.gateway.begin_drain,
    )
    log.info("starting", extra={"database": config.database, "port": port})
    try:
        server.run(sockets=[listener])
    finally:
        store.close()
        log.info("stopped")


class _DrainingServer(uvicorn.Server):
    """uvicorn's server; on SIGTERM webhooks on open connections get 503 at once.

    uvicorn closes the listening socket at the same moment, so new connections
    are refused; the worker finishes its Slack call when the app shuts down.
    """

    def __init__(self, config: uvicorn.Config, *, on_exit) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after its shutdown, which would kill the
        # process before the store is closed; a drained gateway exits with 0.
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening, or the OSError of trying."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _sink(config: GatewayConfig, pacer: ChannelPacer):
    """Slack through the worker's pacer, or the console when there is no token."""
    from alert_gateway.slack import ConsoleSink, SlackWebSink

    token = config.secret("slack_bot_token")
    if token is None:
        log.warning("no Slack token configured, printing messages instead")
        return ConsoleSink()
    return SlackWebSink(token, base_url=config.slack.base_url, pacer=pacer)


@main.group()
def oncall() -> None:
    """Who is on call, now or over the coming weeks."""


@oncall.command()
@_CONFIG
@click.option("--at", "at_text", help="An ISO 8601 time with offset (default: now).")
@click.option("--team", help="Only this team.")
def now(config_path: str, at_text: str | None, team: str | None) -> None:
    """Print who holds each layer of each team's rotation at one moment."""
    config = _load(config_path, secrets=False)
    at = _parse_at(at_text, "--at")
    for name, rotation in _rotations(config, team, config_path):
        if not rotation.layers:
            click.echo(f"{name}\t-\tnobody: rotation {rotation.name} has no members")
        for layer in rotation.layers:
            holder = on_call(rotation, at, layer.name)
            who = _describe(holder) if holder else "nobody"
            click.echo(f"{name}\t{layer.name}\t{who}")


@oncall.command(name="schedule")
@_CONFIG
@click.option("--weeks", type=click.IntRange(1, 104), default=4, show_default=True)
@click.option("--team", help="Only this team.")
@click.option("--from", "from_text", help="Start, ISO 8601 with offset (default: now).")
def schedule_command(
    config_path: str, weeks: int, team: str | None, from_text: str | None
) -> None:
    """Print every shift of each team's rotation over the coming weeks."""
    config = _load(config_path, secrets=False)
    start = _parse_at(from_text, "--from")
    try:
        end = check_moment(start + timedelta(weeks=weeks), "end")
    except (OverflowError, OutOfRangeError):
        _fail(f"--from: {from_text!r} plus {weeks} weeks ends after the year 8999")
    for name, rotation in _rotations(config, team, config_path):
        for entry in schedule(rotation, start, end):
            click.echo(f"{name}\t{entry.layer}\t{_describe(entry)}")


def _rotations(config: GatewayConfig, team: str | None, config_path: str):
    teams = [t for t in config.teams if team is None or t.name == team]
    if team is not None and not teams:
        known = ", ".join(t.name for t in config.teams) or "none"
        _fail(f"--team: no team {team!r} in {config_path} (teams: {known})")
    pairs = []
    for item in teams:
        rotation = config.rotation(item.rotation)
        if rotation is None:
            click.echo(f"{item.name}\t-\tno rotation")
            continue
        pairs.append((item.name, rotation))
    return pairs


def _parse_at(text: str | None, option: str) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option}: {text!r} is not an ISO 8601 time")
    if moment.tzinfo is None:
        _fail(f"{option}: {text!r} needs a UTC offset, e.g. 2026-03-29T09:00:00+02:00")
    try:
        check_moment(moment, option)
    except OutOfRangeError:
        _fail(f"{option}: {text!r} is outside the years 1900 to 8999")
    return moment


def _fail(message: str) -> NoReturn:
    """A user error: one line on stderr, exit 2."""
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(2)


def _describe(entry: OnCall) -> str:
    return (
        f"{entry.member} <@{entry.slack_id}>\t"
        f"{entry.start.isoformat()} .. {entry.end.isoformat()}"
    )


if __name__ == "__main__":
    main()
