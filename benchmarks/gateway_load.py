"""How many Alertmanager webhooks the gateway durably accepts, and how fast.

Sends a bounded number of webhooks (default 10,000) over concurrent keep-alive
connections on loopback to the real server (`alert-gateway serve` in a
subprocess, SQLite with group commits, posting to a local fake Slack), and
prints accepted per second, p50/p99 accept latency, and how many notifications
then reached the fake Slack. It does the same against a bare FastAPI endpoint
that only parses the JSON: the floor a Python HTTP server sets on this machine.

Then a storm: the fake Slack answers 429 to everything for 5 s and allows one
message per second per channel after; 40 alert groups over 4 channels are sent
through the gateway and the time until the last reaches Slack is printed.

    python benchmarks/gateway_load.py [--requests 10000] [--connections 16]

Targets on a 2-core machine: at least 1,500 accepted/s with p99 under 25 ms,
none lost; the storm's 40 groups in Slack within 20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.alert_gateway.fake_slack import DEFAULT_TOKEN, FakeSlack  # noqa: E402

GROUPS = 200
CHANNELS = 20
# Slack's own pace; the fake Slack enforces nothing in the load run.
INTERVAL_SECONDS = 1.0
DRAIN_SECONDS = 60.0

CONFIG = """
database: {database}
listen: {{host: 127.0.0.1, port: {port}}}
secrets:
  slack_bot_token: {{env: BENCH_SLACK_TOKEN}}
slack:
  base_url: {base_url}
  min_interval_per_channel_seconds: {interval}
  retry_initial_seconds: 0.5
  retry_max_seconds: 5
default_channel: "#bench-0"
routes:
{routes}
"""

FLOOR_APP = """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/alertmanager")
async def receive(request: Request):
    await request.json()
    return JSONResponse({"status": "ok"})
"""


def payload(index: int, groups: int, channels: int = CHANNELS) -> bytes:
    """A webhook of a group's 3 alerts; each index is a distinct notification."""
    group = index % groups
    name = f"Load{group:03d}"
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": name,
                "severity": "critical" if group % 5 == 0 else "warning",
                "channel": f"c{group % channels}",
                "instance": f"host-{instance}:9100",
                "job": "node",
            },
            "annotations": {
                "summary": f"{name} on host-{instance}",
                "description": "Requests fail above the SLO burn rate. " * 3,
                "runbook_url": "https://runbooks.example/load",
            },
            # Alertmanager resends a group's alerts; a new start time per index
            # makes each webhook a distinct notification, not a duplicate.
            "startsAt": f"2026-12-04T15:00:00.{index:06d}Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": f"{group:04x}{instance:04x}",
        }
        for instance in range(3)
    ]
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "gateway",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "channel": f"c{group % channels}"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
    return json.dumps(body).encode()


async def _connection(
    port: int, bodies: list[bytes], latencies: list[float], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    )
    for body in bodies:
        started = time.perf_counter()
        writer.write(head.format(len(body)).encode() + body)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        status = int(status_line.split()[1])
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    port: int, bodies: list[bytes], connections: int, server_pid: int | None = None
) -> dict[str, float]:
    """Send every body over `connections` keep-alive connections; return figures."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    shares = [bodies[i::connections] for i in range(connections)]

    async def run() -> None:
        await asyncio.gather(
            *(_connection(port, share, latencies, statuses) for share in shares)
        )

    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    cpu = (cpu_seconds(server_pid) - cpu_before) if server_pid else 0.0
    latencies.sort()
    return {
        "sent": len(bodies),
        "ok": statuses.get(200, 0),
        "other": sum(n for s, n in statuses.items() if s != 200),
        "per_second": statuses.get(200, 0) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "seconds": elapsed,
        "server_cpu_ms": cpu * 1000 / max(1, len(bodies)),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            time.sleep(0.05)
    raise SystemExit(f"server at {url} did not start")


def start_gateway(
    directory: Path, slack: FakeSlack, *, interval: float, channels: int = CHANNELS
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    routes = "\n".join(
        f"  - matchers: {{channel: c{i}}}\n    channel: '#bench-{i}'"
        for i in range(channels)
    )
    config = directory / "gateway.yml"
    config.write_text(
        CONFIG.format(
            database=directory / "gateway.db",
            port=port,
            base_url=slack.base_url,
            interval=interval,
            routes=routes,
        )
    )
    env = {**os.environ, "BENCH_SLACK_TOKEN": DEFAULT_TOKEN}
    command = [
        sys.executable,
        "-m",
        "alert_gateway.cli",
        "serve",
        "--config",
        str(config),
    ]
    log = (directory / "gateway.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    wait_ready(f"http://127.0.0.1:{port}/healthz", process)
    return process, port


def metric(port: int, name: str) -> float:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def gateway_run(bodies: list[bytes], connections: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        process, port = start_gateway(Path(tmp), slack, interval=INTERVAL_SECONDS)
        try:
            figures = load(port, bodies, connections, process.pid)
            deadline = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < deadline:
                if metric(port, "alert_gateway_queue_depth") == 0:
                    break
                time.sleep(0.2)
            delivered = metric(port, "alert_gateway_notifications_delivered_total")
            deduplicated = metric(
                port, "alert_gateway_notifications_deduplicated_total"
            )
        finally:
            process.terminate()
            process.wait(timeout=20)
        _print("gateway (SQLite, group commits, synchronous=FULL)", figures)
        print(
            f"  notifications delivered to Slack {delivered:.0f} of {figures['ok']}"
            f" accepted (deduplicated {deduplicated:.0f}); Slack messages"
            f" {len(slack.posts())} posts + {len(slack.updates())} updates"
            f" for {GROUPS} groups; lost {figures['ok'] - delivered - deduplicated:.0f}"
        )


def floor_run(bodies: list[bytes], connections: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "floor_app.py").write_text(FLOOR_APP)
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "floor_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        process = subprocess.Popen(command, cwd=tmp)
        try:
            wait_ready(f"http://127.0.0.1:{port}/docs", process)
            figures = load(port, bodies, connections, process.pid)
        finally:
            process.terminate()
            process.wait(timeout=20)
    _print("floor (bare FastAPI endpoint, parses the JSON only)", figures)


def storm_run(groups: int = 40, channels: int = 4) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        slack.limit_rate_per_channel(1.0)
        process, port = start_gateway(Path(tmp), slack, interval=1.0, channels=channels)
        try:
            started = time.monotonic()
            slack.reject_all_until(started + 5.0)
            bodies = [payload(i, groups, channels) for i in range(groups)]
            figures = load(port, bodies, 8)
            reached = slack.wait_for(
                lambda calls: (
                    len({c.text for c in calls if c.thread_ts is None}) >= groups
                ),
                60,
            )
            posts = slack.posts()
            last = max((call.at for call in posts), default=started) - started
        finally:
            process.terminate()
            process.wait(timeout=20)
    verdict = "met" if reached and last <= 20 else "MISSED"
    arrived = len({call.text for call in posts})
    print(
        f"storm: {arrived}/{groups} groups over {channels} channels"
        f" in Slack after {last:.1f} s (target 20 s: {verdict}); accepted"
        f" {figures['ok']}/{groups}; calls refused by Slack {slack.rejected}"
    )


def _print(title: str, figures: dict[str, float]) -> None:
    print(title)
    print(
        f"  {figures['ok']:.0f}/{figures['sent']:.0f} answered 200"
        f" ({figures['other']:.0f} other) in {figures['seconds']:.2f} s:"
        f" {figures['per_second']:.0f} accepted/s,"
        f" p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms;"
        f" server CPU {figures['server_cpu_ms']:.2f} ms per webhook"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-storm", action="store_true")
    args = parser.parse_args()

    bodies = [payload(i, GROUPS) for i in range(args.requests)]
    print(
        f"{args.requests} webhooks of {len(bodies[0])} bytes, {GROUPS} groups,"
        f" {args.connections} connections, {os.cpu_count()} CPUs"
    )
    floor_run(bodies, args.connections)
    gateway_run(bodies, args.connections)
    if not args.skip_storm:
        storm_run()


if __name__ == "__main__":
    main()
