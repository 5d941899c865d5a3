"""Shared pieces of the gateway's tests: a clock we move, configs, payloads."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from alert_gateway.config import GatewayConfig, ResolvedSecrets, parse_config
from alert_gateway.delivery import Deliverer
from alert_gateway.metrics import GatewayMetrics
from alert_gateway.pacing import ChannelPacer
from alert_gateway.payload import Notification
from alert_gateway.slack import SlackWebSink
from alert_gateway.sqlite_store import SqliteStore
from tests.alert_gateway.fake_slack import DEFAULT_TOKEN, FakeSlack

# 2026-03-02 10:00 UTC, a Monday: alice is primary and bob secondary below.
START = 1_772_445_600.0
# Slack's pace per channel, as shipped: tests move the clock past it.
INTERVAL = 1.0

# One team, its route and its weekly rotation of two.
PLATFORM = """
routes:
  - matchers: {{team: platform}}
    channel: "#platform-alerts"
    team: platform
teams:
  - name: platform
    channel: "#platform-alerts"
    rotation: platform-oncall
rotations:
  - name: platform-oncall
    time_zone: Europe/Madrid
    start: 2026-01-05
    handoff: 09:00
    shift: weekly
    members: {{alice: U0ALICE, bob: U0BOB}}
    layers:
      - {{name: primary, order: [alice, bob]}}
      - {{name: secondary, order: [bob, alice]}}
"""

CONFIG = (
    """
database: {database}
alertmanager_url: http://127.0.0.1:9/
default_channel: "#alerts"
slack:
  base_url: {base_url}
  min_interval_per_channel_seconds: {interval}
  retry_initial_seconds: 1
"""
    + PLATFORM
    + """escalation:
  after_minutes: 15
  severities: [critical]
"""
)


class FakeClock:
    """Wall-clock seconds that only move when a test moves them."""

    def __init__(self, start: float = START) -> None:
        self.value = start

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


def make_config(
    database: Path | str,
    base_url: str = "http://127.0.0.1:9/api/",
    *,
    extra: str = "",
    interval: float = INTERVAL,
    **secrets: str,
) -> GatewayConfig:
    """The test configuration with secret values given directly."""
    text = (
        CONFIG.format(database=database, base_url=base_url, interval=interval) + extra
    )
    config = parse_config(text)
    return config.with_secrets(
        ResolvedSecrets(**{name: SecretStr(value) for name, value in secrets.items()})
    )


def alert(
    name: str = "HighErrorRate",
    *,
    status: str = "firing",
    severity: str = "critical",
    fingerprint: str | None = None,
    ends_at: str = "0001-01-01T00:00:00Z",
    **labels: str,
) -> dict[str, Any]:
    all_labels = {"alertname": name, "severity": severity, "team": "platform", **labels}
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} is happening"},
        "startsAt": "2026-03-02T09:55:00Z",
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint or f"fp-{name}",
    }


def payload(
    group_key: str = '{}:{alertname="HighErrorRate"}',
    alerts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    alerts = alerts or [alert()]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "gateway",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {
            "team": "platform",
            "severity": alerts[0]["labels"]["severity"],
        },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack_token() -> str:
    return DEFAULT_TOKEN


@pytest.fixture
def gateway(tmp_path, fake_slack, clock, slack_token):
    """A store, a Deliverer posting to the fake Slack, and a way to receive webhooks.

    The worker and the sink share one pacer on the test's clock, with the
    shipped interval of one message per second per channel: `drain` runs
    passes, moving the clock by that interval between them.
    """
    database = tmp_path / "gateway.db"
    store = SqliteStore(database)
    config = make_config(database, fake_slack.base_url, slack_signing_secret="x")
    pacer = ChannelPacer(INTERVAL, clock=clock.now)
    sink = SlackWebSink(slack_token, base_url=fake_slack.base_url, pacer=pacer)
    metrics = GatewayMetrics(queue_depth=store.queue_depth)
    deliverer = Deliverer(
        config, store, sink, metrics, clock, pacer=pacer, rng=random.Random(7)
    )
    store.set_on_commit(deliverer.arrived)

    def drain(passes: int = 5) -> int:
        done = 0
        for _ in range(passes):
            done += deliverer.run_once()
            clock.advance(INTERVAL)
        return done

    def receive(body: dict, team: str | None = None) -> None:
        notification = Notification.model_validate(body)
        raw = json.dumps(body).encode()
        store.submit(notification, raw, team=team, now=clock.now()).result(timeout=5)

    deliverer.receive = receive
    deliverer.drain = drain
    yield deliverer
    store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


SERVED_CONFIG = (
    """
database: {database}
listen: {{host: 127.0.0.1, port: {port}}}
alertmanager_url: http://127.0.0.1:9/
secrets:
  slack_bot_token: {{env: TEST_SLACK_TOKEN}}
  webhook_bearer_token: {{env: TEST_WEBHOOK_TOKEN}}
slack:
  base_url: {base_url}
  min_interval_per_channel_seconds: {interval}
  retry_initial_seconds: 0.2
  retry_max_seconds: 1
default_channel: "#alerts"
"""
    + PLATFORM
)
WEBHOOK_TOKEN = "e2e-webhook-token"


class GatewayProcess:
    """`alert-gateway serve` in a subprocess on 127.0.0.1, against a given Slack."""

    def __init__(
        self, directory: Path, slack_base_url: str, *, interval: float = 0.0
    ) -> None:
        self.port = free_port()
        self.database = directory / "gateway.db"
        self.config_path = directory / "gateway.yml"
        self.config_path.write_text(
            SERVED_CONFIG.format(
                database=self.database,
                port=self.port,
                base_url=slack_base_url,
                interval=interval,
            )
        )
        self.log_path = directory / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        env = {
            **os.environ,
            "TEST_SLACK_TOKEN": DEFAULT_TOKEN,
            "TEST_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        }
        command = [
            sys.executable,
            "-m",
            "alert_gateway.cli",
            "serve",
            "--config",
            str(self.config_path),
            "--log-format",
            "json",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        wait_until(self._healthy, 20, "the gateway to answer /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"gateway exited: {self.log_path.read_text()}")
        try:
            return requests.get(self.url + "/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    def post(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            self.url + "/alertmanager",
            json=body,
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
            timeout=5,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
