"""Shared pieces of the gateway's tests: a clock we move, configs, payloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from alert_gateway.config import GatewayConfig, ResolvedSecrets, parse_config
from tests.alert_gateway.fake_slack import DEFAULT_TOKEN, FakeSlack

# 2026-03-02 10:00 UTC, a Monday: alice is primary and bob secondary below.
START = 1_772_445_600.0

CONFIG = """
database: {database}
alertmanager_url: http://127.0.0.1:9/
default_channel: "#alerts"
slack:
  base_url: {base_url}
  min_interval_per_channel_seconds: 0
  retry_initial_seconds: 1
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
escalation:
  after_minutes: 15
  severities: [critical]
"""


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
    **secrets: str,
) -> GatewayConfig:
    """The test configuration with secret values given directly."""
    text = CONFIG.format(database=database, base_url=base_url) + extra
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
