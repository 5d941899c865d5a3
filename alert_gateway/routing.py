"""Where a group's message goes, whom it mentions, and what it says.

The route is the team named by the webhook's path, else the first route whose
matchers all equal the group's labels, else the default channel. A group with
a paging severity mentions the primary on call of the team's rotation; the
escalation asks for the secondary the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alert_gateway.blocks import GroupState, Message, build_message
from alert_gateway.clock import Clock, utc
from alert_gateway.config import GatewayConfig, Team
from alert_gateway.oncall import on_call
from alert_gateway.store import GroupRecord

log = logging.getLogger(__name__)


def pages(state: GroupState, severities: list[str]) -> bool:
    """Whether a firing alert of the group has a paging severity."""
    return any(
        alert.labels.get("severity", state.common_labels.get("severity")) in severities
        for alert in state.firing()
    )


@dataclass(frozen=True)
class Target:
    """Where a group's message goes and whose rotation it mentions."""

    channel: str
    team: Team | None


class Router:
    """Routes and mentions under one configuration, at the clock's time."""

    def __init__(self, config: GatewayConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock

    def route(self, state: GroupState, team_name: str | None) -> Target:
        """The team named by the webhook's path, else the first matching route."""
        team = self.config.team(team_name)
        if team is not None:
            return Target(team.channel, team)
        if team_name is not None:
            log.warning("unknown team in webhook path", extra={"team": team_name})

        labels = {**state.common_labels, **state.group_labels}
        for route in self.config.routes:
            if all(labels.get(k) == v for k, v in route.matchers.items()):
                return Target(route.channel, self.config.team(route.team))
        return Target(self.config.default_channel, None)

    def message(self, state: GroupState, record: GroupRecord) -> Message:
        mention = None
        if state.status == "firing" and pages(state, self.config.escalation.severities):
            mention = self.on_call_id(record.team, "primary", state.group_key)
        return build_message(
            state,
            mention=mention,
            silence_url=None,
            acknowledged_by=record.current_acknowledgement,
            buttons=self.config.secret("slack_signing_secret") is not None,
        )

    def on_call_id(
        self, team_name: str | None, layer: str, group_key: str
    ) -> str | None:
        """The Slack id of who holds `layer` of the team's rotation now, if anyone."""
        team = self.config.team(team_name)
        rotation = self.config.rotation(team.rotation if team else None)
        if rotation is None:
            return None
        holder = on_call(rotation, utc(self.clock.now()), layer)
        if holder is None:
            log.warning(
                "nobody on call",
                extra={
                    "rotation": rotation.name,
                    "layer": layer,
                    "group_key": group_key,
                },
            )
            return None
        return holder.slack_id
