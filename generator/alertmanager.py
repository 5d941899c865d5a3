"""The Alertmanager target: `alertmanager/alertmanager.yml`.

Alerts are grouped by name and service, routed by their `team` label to one
webhook receiver per team, and sent to the alert gateway with the team in the
URL. Anything no team route matches goes to the gateway's team-less endpoint,
so an alert with a missing or misspelt team still reaches a channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from generator.compose import TOKEN_SECRET
from generator.errors import RenderError
from generator.inventory import Inventory
from generator.render import Files, RenderContext, mapping_at
from generator.secrets import literal_secrets

log = logging.getLogger(__name__)

PATH = "alertmanager/alertmanager.yml"
TEMPLATE = "alertmanager/alertmanager.yml.j2"
DEFAULT_RECEIVER = "default"
# The gateway's bearer token, as compose mounts it.
CREDENTIALS_FILE = f"/run/secrets/{TOKEN_SECRET}"
# The always-firing alert of rules/stack.yml and how often it is sent again.
WATCHDOG = "Watchdog"
WATCHDOG_REPEAT = "1h"


@dataclass(frozen=True)
class Receiver:
    """A webhook receiver and, for a team's, the matcher of its route."""

    name: str
    url: str
    team: str | None = None

    @property
    def matcher(self) -> str:
        return f'team="{self.team}"'


def receiver_name(team: str) -> str:
    return f"team-{team}"


def webhook_url(inventory: Inventory, team: str | None) -> str:
    """Where Alertmanager posts a team's notifications on the gateway."""
    base = f"http://{inventory.stack.gateway.address}/alertmanager"
    return base if team is None else f"{base}/{team}"


def receivers(inventory: Inventory) -> tuple[Receiver, list[Receiver]]:
    """The default receiver and one receiver per team, in team name order."""
    default = Receiver(DEFAULT_RECEIVER, webhook_url(inventory, None))
    teams = [
        Receiver(receiver_name(name), webhook_url(inventory, name), name)
        for name in sorted(inventory.teams)
    ]
    return default, teams


def render(context: RenderContext) -> Files:
    default, teams = receivers(context.inventory)
    text = context.render(
        TEMPLATE,
        default_receiver=default,
        team_receivers=teams,
        credentials_file=CREDENTIALS_FILE,
        watchdog_matcher=f'alertname="{WATCHDOG}"',
        not_watchdog_matcher=f'alertname!="{WATCHDOG}"',
        watchdog_repeat=WATCHDOG_REPEAT,
    )
    log.debug("rendered path=%s receivers=%d", PATH, len(teams) + 1)
    return {PATH: text}


def check(files: Files, parsed: dict[str, Any]) -> None:
    config = mapping_at(parsed, PATH)
    if config is None:
        return

    names = [receiver.get("name") for receiver in config.get("receivers") or []]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RenderError(f"{PATH}: receivers: duplicate name {duplicates[0]!r}")
    _check_route(config.get("route") or {}, set(names), "route")
    _check_team_routes(config)

    problems = literal_secrets(config)
    if problems:
        raise RenderError(f"{PATH}: {problems[0]}: a secret must be a file reference")


def _check_route(route: dict[str, Any], names: set[str], where: str) -> None:
    receiver = route.get("receiver")
    if receiver is not None and receiver not in names:
        raise RenderError(f"{PATH}: {where}.receiver: no receiver named {receiver!r}")
    for index, child in enumerate(route.get("routes") or []):
        _check_route(child, names, f"{where}.routes[{index}]")


def _check_team_routes(config: dict[str, Any]) -> None:
    """Every team the receivers name has a route that selects it by label."""
    routed = {
        matcher
        for child in config.get("route", {}).get("routes") or []
        for matcher in child.get("matchers") or []
    }
    for receiver in config.get("receivers") or []:
        name = receiver.get("name", "")
        if name == DEFAULT_RECEIVER:
            continue
        team = name.removeprefix("team-")
        if Receiver(name, "", team).matcher not in routed:
            raise RenderError(f"{PATH}: receiver {name!r} has no route for its team")
