"""Alertmanager's webhook payload (version 4), as the gateway receives it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Alertmanager sends this instant as `endsAt` for an alert that has no end yet.
NO_END = datetime(1, 1, 1, tzinfo=UTC)


class Alert(BaseModel):
    """One alert of a notification, firing or resolved."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @property
    def has_end(self) -> bool:
        """Whether `endsAt` is a real instant rather than Alertmanager's zero time."""
        return self.ends_at is not None and self.ends_at > NO_END


class Notification(BaseModel):
    """One webhook call: the current state of one alert group."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(
        default_factory=dict, alias="commonAnnotations"
    )
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)

    def firing(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status == "firing"]

    def resolved(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status == "resolved"]

    def dedup_key(self) -> str:
        """The same for every copy of this notification (retries, HA twins).

        Alertmanager resends a group's full state, so a group key, its status
        and each alert's fingerprint, status and times identify the content.
        """
        alerts = sorted(
            (
                alert.fingerprint or json.dumps(sorted(alert.labels.items())),
                alert.status,
                alert.starts_at.isoformat(),
                alert.ends_at.isoformat() if alert.has_end else "",
            )
            for alert in self.alerts
        )
        text = json.dumps([self.group_key, self.status, alerts], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
