"""`alert-gateway`: on-call questions answered, user errors as one line and exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from alert_gateway.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway" / "gateway.yml"


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_oncall_now_at_a_moment_names_each_layer():
    result = _run(
        "oncall",
        "now",
        "--config",
        str(EXAMPLE),
        "--team",
        "platform",
        "--at",
        "2026-12-25T10:00:00+01:00",
    )

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # The example's override gives carol the primary layer over Christmas.
    assert lines[0].startswith("platform\tprimary\tcarol <@U0CAROL>")
    assert lines[1].startswith("platform\tsecondary\t")
    assert len(lines) == 2


def test_oncall_schedule_lists_shifts_over_the_weeks():
    result = _run(
        "oncall",
        "schedule",
        "--config",
        str(EXAMPLE),
        "--team",
        "platform",
        "--weeks",
        "2",
        "--from",
        "2026-03-02T10:00:00+01:00",
    )

    assert result.exit_code == 0, result.output
    primaries = [line for line in result.output.splitlines() if "\tprimary\t" in line]
    # Weekly from Monday 2026-01-05: 2026-03-02 starts week 8, and 8 % 3 picks carol;
    # the window ends after the 2026-03-16 09:00 handoff, so three shifts show.
    assert [line.split("\t")[2].split()[0] for line in primaries] == [
        "carol",
        "alice",
        "bob",
    ]


def test_unknown_team_is_a_one_line_usage_error():
    result = _run("oncall", "now", "--config", str(EXAMPLE), "--team", "ghosts")

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: --team: no team 'ghosts' in {EXAMPLE} (teams: platform, sales)"
    ]
    assert "Traceback" not in result.output


def test_time_without_offset_is_refused():
    result = _run("oncall", "now", "--config", str(EXAMPLE), "--at", "2026-03-02T10:00")

    assert result.exit_code == 2
    assert "needs a UTC offset" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["now", "--at", "0001-01-01T00:00:00+00:00"],
        ["now", "--at", "9999-12-31T23:59:59-14:00"],
        ["schedule", "--from", "0001-01-01T00:00:00+00:00"],
        ["schedule", "--from", "8999-12-20T00:00:00+00:00", "--weeks", "4"],
    ],
)
def test_times_outside_the_supported_years_are_one_line_and_exit_2(args):
    result = _run("oncall", *args, "--config", str(EXAMPLE))

    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: {args[1]}: ")
    assert "8999" in line


def test_config_errors_print_located_lines_and_exit_2(tmp_path):
    config = tmp_path / "gateway.yml"
    config.write_text('database: /tmp/x.db\ndefault_channel: "#a"\nroutez: []\n')

    result = _run("serve", "--config", str(config))

    assert result.exit_code == 2
    assert result.output.strip() == f"{config}:3:1: routez: unknown key"


def test_missing_config_file_is_one_line(tmp_path):
    result = _run("oncall", "now", "--config", str(tmp_path / "absent.yml"))

    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "cannot read file" in result.output


def test_log_formats_carry_the_context_as_keys():
    import json
    import logging

    from alert_gateway.logs import JsonFormatter, TextFormatter

    record = logging.makeLogRecord(
        {
            "name": "alert_gateway.delivery",
            "levelname": "INFO",
            "msg": "posted group message",
            "group_key": '{}:{alertname="A"}',
            "channel": "#ops",
        }
    )

    entry = json.loads(JsonFormatter().format(record))
    text = TextFormatter().format(record)

    assert entry["message"] == "posted group message"
    assert (entry["group_key"], entry["channel"]) == ('{}:{alertname="A"}', "#ops")
    assert text.endswith(
        'posted group message group_key="{}:{alertname=\\"A\\"}" channel=#ops'
    )


def test_long_group_keys_are_cut_in_log_lines_and_told_apart_by_a_hash():
    import json
    import logging

    from alert_gateway.logs import JsonFormatter, TextFormatter

    def record(key: str) -> logging.LogRecord:
        return logging.makeLogRecord(
            {
                "name": "alert_gateway.delivery",
                "levelname": "INFO",
                "msg": "posted group message",
                "group_key": key,
                "channel": "C0OPS1234",
            }
        )

    base = '{}:{alertname="A", instance="' + "x" * 500
    one, two = base + '1"}', base + '2"}'

    shown = [
        json.loads(JsonFormatter().format(record(k)))["group_key"] for k in (one, two)
    ]
    text = TextFormatter().format(record(one))

    assert shown[0] != shown[1]
    assert all(key.startswith(base[:80]) and len(key) < 120 for key in shown)
    assert "x" * 100 not in text
    assert text.endswith("channel=C0OPS1234")


@pytest.mark.e2e
def test_serve_on_a_taken_port_exits_without_delivering(tmp_path, fake_slack):
    import json
    import socket
    import subprocess
    import sys

    from alert_gateway.payload import Notification
    from alert_gateway.sqlite_store import SqliteStore
    from tests.alert_gateway.conftest import GatewayProcess, payload

    gateway = GatewayProcess(tmp_path, fake_slack.base_url)
    store = SqliteStore(gateway.database)
    body = payload()
    store.submit(
        Notification.model_validate(body), json.dumps(body).encode(), team=None, now=0
    ).result(timeout=5)
    store.close()

    config = str(gateway.config_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", gateway.port))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "alert_gateway.cli", "serve", "--config", config],
            env={**os.environ, "TEST_SLACK_TOKEN": "t", "TEST_WEBHOOK_TOKEN": "w"},
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{gateway.port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert fake_slack.calls == []
