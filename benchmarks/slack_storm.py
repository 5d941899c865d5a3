"""A rate-limit storm: how long 40 alert groups take to reach a hostile Slack.

The fake Slack answers 429 to everything for the first 5 s, then accepts one
message per second per channel. Target: all 40 groups over 4 channels within
20 s. Run `python benchmarks/slack_storm.py`; `run_storm()` returns the figures.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alert_gateway.blocks import GroupState, Message, build_message
from alert_gateway.pacing import ChannelPacer
from alert_gateway.payload import Notification
from alert_gateway.slack import SlackSink, SlackWebSink

TARGET_SECONDS = 20.0
# Waiting used after a failure that names no Retry-After (5xx, network).
_BACKOFF_SECONDS = (0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Job:
    """One alert group's first message, waiting to be posted."""

    channel: str
    group_key: str
    message: Message


@dataclass(frozen=True)
class StormResult:
    groups: int
    delivered: int
    seconds_to_last: float
    calls_refused: int
    dropped: int

    def __str__(self) -> str:
        verdict = "met" if self.met_target else "MISSED"
        return (
            f"delivered {self.delivered}/{self.groups} groups, last after "
            f"{self.seconds_to_last:.2f} s (target {TARGET_SECONDS:.0f} s: {verdict}); "
            f"calls refused by Slack {self.calls_refused}, dropped {self.dropped}"
        )

    @property
    def met_target(self) -> bool:
        return self.delivered == self.groups and self.seconds_to_last <= TARGET_SECONDS


Driver = Callable[[SlackSink, list[Job], float], int]


def run_storm(
    *,
    groups: int = 40,
    channels: int = 4,
    reject_seconds: float = 5.0,
    per_channel_rate: float = 1.0,
    min_interval: float = 1.0,
    give_up_after: float = 60.0,
    driver: Driver | None = None,
) -> StormResult:
    """Run the storm against a fresh fake Slack and return what reached it."""
    fake_slack = _fake_slack_module()
    jobs = [_job(i, f"#storm-{i % channels}") for i in range(groups)]

    with fake_slack.FakeSlack() as fake:
        sink = SlackWebSink(
            fake.token, base_url=fake.base_url, pacer=ChannelPacer(min_interval)
        )
        fake.limit_rate_per_channel(per_channel_rate)
        started = time.monotonic()
        fake.reject_all_until(started + reject_seconds)

        dropped = (driver or drive)(sink, jobs, started + give_up_after)

        posts = fake.posts()
        last = max((call.at for call in posts), default=started)
        return StormResult(
            groups=groups,
            delivered=len({call.text for call in posts}),
            seconds_to_last=last - started,
            calls_refused=fake.rejected,
            dropped=dropped,
        )


def drive(sink: SlackSink, jobs: list[Job], deadline: float) -> int:
    """Post every job, retrying as each answer asks; returns how many were dropped.

    A small stand-in for the gateway's delivery worker: one thread, each job
    due at a time, the earliest due job tried first.
    """
    due = {index: 0.0 for index in range(len(jobs))}
    attempts = dict.fromkeys(due, 0)
    dropped = 0

    while due and time.monotonic() < deadline:
        now = time.monotonic()
        ready = [index for index, at in due.items() if at <= now]
        for index in sorted(ready, key=due.__getitem__):
            job = jobs[index]
            attempts[index] += 1
            result = sink.post(
                job.channel,
                job.message,
                group_key=job.group_key,
                attempt=attempts[index],
            )
            if result.kind == "ok":
                del due[index]
            elif result.kind == "permanent":
                del due[index]
                dropped += 1
            else:
                backoff = _BACKOFF_SECONDS[
                    min(attempts[index], len(_BACKOFF_SECONDS)) - 1
                ]
                wait = result.retry_after if result.retry_after is not None else backoff
                due[index] = time.monotonic() + wait
        if due:
            time.sleep(max(0.0, min(min(due.values()) - time.monotonic(), 0.05)))
    return dropped + len(due)


def _job(index: int, channel: str) -> Job:
    name = f"StormAlert{index:02d}"
    notification = Notification.model_validate(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{name}"}}',
            "status": "firing",
            "receiver": "gateway",
            "groupLabels": {"alertname": name},
            "commonLabels": {"alertname": name, "severity": "critical"},
            "externalURL": "http://alertmanager:9093",
            "alerts": [_alert(name, instance) for instance in range(3)],
        }
    )
    message = build_message(
        GroupState.from_notification(notification),
        mention="U0ONCALL",
        silence_url=None,
        acknowledged_by=None,
        buttons=True,
    )
    return Job(channel, notification.group_key, message)


def _alert(name: str, instance: int) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": name,
            "severity": "critical",
            "instance": f"h{instance}",
        },
        "annotations": {"summary": f"{name} on h{instance}"},
        "startsAt": "2026-12-04T15:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"{name}-{instance}",
    }


def _fake_slack_module() -> Any:
    # The fake Slack lives with the tests; the benchmark borrows it from there.
    tests_dir = Path(__file__).resolve().parents[1] / "tests" / "alert_gateway"
    if str(tests_dir) not in sys.path:
        sys.path.insert(0, str(tests_dir))
    return importlib.import_module("fake_slack")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    print(run_storm())
