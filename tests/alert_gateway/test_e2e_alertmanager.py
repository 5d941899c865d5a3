"""The real Alertmanager posts to the gateway, which posts to a fake Slack."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from alert_gateway.config import parse_config
from alert_gateway.oncall import on_call
from tests.alert_gateway.conftest import (
    WEBHOOK_TOKEN,
    GatewayProcess,
    free_port,
    wait_until,
)

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")

ALERTMANAGER_CONFIG = """
route:
  receiver: gateway
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: gateway
    webhook_configs:
      - url: {url}/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {token}
"""


@pytest.fixture
def alertmanager(tmp_path):
    if not ALERTMANAGER.exists():
        pytest.skip("prometheus-alertmanager is not installed")

    def start(gateway_url: str) -> str:
        port = free_port()
        config = tmp_path / "alertmanager.yml"
        config.write_text(
            ALERTMANAGER_CONFIG.format(url=gateway_url, token=WEBHOOK_TOKEN)
        )
        log = (tmp_path / "alertmanager.log").open("wb")
        process = subprocess.Popen(
            [
                str(ALERTMANAGER),
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=log,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(url), 20, "Alertmanager to be ready")
        return url

    processes: list[subprocess.Popen[bytes]] = []
    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/-/ready", timeout=1).ok
    except requests.RequestException:
        return False


def _alert(ends_at: datetime | None = None) -> list[dict]:
    now = datetime.now(UTC)
    alert = {
        "labels": {
            "alertname": "CheckoutDown",
            "severity": "critical",
            "team": "platform",
            "service": "checkout",
        },
        "annotations": {"summary": "Checkout answers 5xx to every request"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus:9090/graph",
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return [alert]


@pytest.mark.e2e
def test_alert_fired_through_alertmanager_reaches_slack_then_resolves(
    tmp_path, fake_slack, alertmanager
):
    gateway = GatewayProcess(tmp_path, fake_slack.base_url).start()
    try:
        am = alertmanager(gateway.url)
        rotation = parse_config(gateway.config_path.read_text()).rotations[0]
        primary = on_call(rotation, datetime.now(UTC))
        assert primary is not None

        requests.post(
            am + "/api/v2/alerts", json=_alert(), timeout=5
        ).raise_for_status()
        posted = fake_slack.wait_for(lambda calls: len(calls) >= 1, 20)
        assert posted, "no message reached Slack"
        [post] = fake_slack.posts("#platform-alerts")
        assert f"<@{primary.slack_id}>" in post.text + str(post.blocks)
        assert "CheckoutDown" in post.text

        ended = datetime.now(UTC) - timedelta(seconds=5)
        requests.post(
            am + "/api/v2/alerts", json=_alert(ends_at=ended), timeout=5
        ).raise_for_status()
        resolved = fake_slack.wait_for(
            lambda calls: (
                any(c.thread_ts == post.ts for c in calls)
                and any(c.method == "chat.update" for c in calls)
            ),
            20,
        )
        assert resolved, f"no update and reply: {fake_slack.calls}"
    finally:
        assert gateway.stop() == 0

    [update] = fake_slack.updates()
    [reply] = [call for call in fake_slack.posts() if call.thread_ts == post.ts]
    assert update.ts == post.ts
    assert "RESOLVED" in str(update.blocks).upper()
    assert "Resolved" in reply.text
    assert len([c for c in fake_slack.posts() if c.thread_ts is None]) == 1
