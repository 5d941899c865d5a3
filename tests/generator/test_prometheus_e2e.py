"""The real Prometheus runs a rendered static config: it scrapes a service with
obsgen's labels, loads the rules, and fires ServiceDown when the service fails."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from generator import prometheus, scrape
from tests.generator.conftest import needs
from tests.generator.test_prometheus import render_tree

DEADLINE_SECONDS = 60
METRICS = """\
# TYPE http_requests_received_total counter
http_requests_received_total{code="200",method="GET",controller="Cars",action="List"} 42
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# TYPE process_working_set_bytes gauge
process_working_set_bytes 104857600
"""


class FakeService(BaseHTTPRequestHandler):
    """Serves /metrics like an instrumented service, and takes Alertmanager's
    POSTs so that Prometheus talks to no one else."""

    healthy: ClassVar[bool] = True
    alerts: ClassVar[list[Any]] = []

    def do_GET(self) -> None:
        if self.path != "/metrics" or not FakeService.healthy:
            self.send_response(503)
            self.end_headers()
            return
        body = METRICS.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        FakeService.alerts.extend(json.loads(self.rfile.read(length) or b"[]"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def service() -> Iterator[int]:
    FakeService.healthy = True
    FakeService.alerts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def inventory_text(service_port: int) -> str:
    return f"""\
stack:
  name: e2e
  environment: test
  discovery: static
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  alertmanager:
    address: 127.0.0.1:{service_port}
  gateway:
    address: 127.0.0.1:{service_port}
defaults:
  thresholds:
    down_for: 1s
teams:
  - name: cars
    slack_channel: "#cars"
services:
  - name: inventory
    kind: http
    team: cars
    address: 127.0.0.1
    port: {service_port}
    health: []
"""


@pytest.fixture
def running_prometheus(service: int, tmp_path: Path) -> Iterator[str]:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(inventory_text(service))
    render_tree(inventory, tmp_path / "stack")
    port = free_port()
    config = tmp_path / "stack" / prometheus.CONFIG
    # The self-scrape job points where Prometheus listens in the stack; here it
    # listens on a free port of 127.0.0.1. The stack's fixed containers are
    # played by the fake service, so that Prometheus looks up no other host.
    text = config.read_text().replace("localhost:9090", f"127.0.0.1:{port}")
    for address in (scrape.BLACKBOX_ADDRESS, scrape.GRAFANA_ADDRESS):
        text = text.replace(address, f"127.0.0.1:{service}")
    config.write_text(text)

    command = [
        needs("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    """Poll `probe` until it returns something truthy, or fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            result = probe()
        except requests.RequestException:
            result = None
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def api(base: str, path: str, **params: str) -> Any:
    response = requests.get(f"{base}/api/v1/{path}", params=params, timeout=5)
    response.raise_for_status()
    return response.json()["data"]


@pytest.mark.e2e
def test_prometheus_scrapes_the_service_loads_rules_and_fires(running_prometheus):
    base = running_prometheus

    def service_up() -> list[dict]:
        result = api(base, "query", query='up{job="http"} == 1')["result"]
        return [sample["metric"] for sample in result]

    (labels,) = wait_for("the service's target to be up", service_up)
    assert {key: labels[key] for key in ("service", "team", "env", "kind")} == {
        "service": "inventory",
        "team": "cars",
        "env": "test",
        "kind": "http",
    }

    def rules_evaluated() -> list[dict]:
        groups = api(base, "rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return groups if rules and all(r["health"] == "ok" for r in rules) else []

    groups = wait_for("the rules to load and evaluate", rules_evaluated)
    assert {group["name"] for group in groups} == {
        "http-recording",
        "http-alerts",
        "stack-alerts",
    }

    def stack_up() -> list[dict]:
        result = api(base, "query", query='up{kind="stack"} == 1')["result"]
        found = [sample["metric"] for sample in result if sample["metric"]["team"]]
        return found if len(found) == 4 else []

    stack = wait_for("the stack's containers to be scraped", stack_up)
    assert sorted(labels["job"] for labels in stack) == [
        "stack-alert-gateway",
        "stack-alertmanager",
        "stack-blackbox-exporter",
        "stack-grafana",
    ]

    def watchdog_firing() -> list[dict]:
        alerts = api(base, "alerts")["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "Watchdog"]

    watchdog = wait_for("Watchdog to fire", watchdog_firing)
    assert watchdog[0]["labels"]["severity"] == "info"

    FakeService.healthy = False

    def service_down_firing() -> list[dict]:
        alerts = api(base, "alerts")["alerts"]
        return [
            alert
            for alert in alerts
            if alert["labels"]["alertname"] == "ServiceDown"
            and alert["state"] == "firing"
        ]

    (alert,) = wait_for("ServiceDown to fire", service_down_firing)
    assert alert["labels"]["service"] == "inventory"
    assert alert["labels"]["team"] == "cars"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["runbook_url"] == "docs/runbooks/ServiceDown.md"
    sent = wait_for(
        "the alert to reach Alertmanager",
        lambda: [
            a for a in FakeService.alerts if a["labels"]["alertname"] == "ServiceDown"
        ],
    )
    assert sent[0]["labels"]["service"] == "inventory"
