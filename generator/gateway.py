"""The gateway target: `gateway/gateway.yml`, a starting alert gateway config.

It routes each team's alerts to the team's Slack channel and names the team's
rotation. The inventory only names rotations, so each gets a stub with no
members, which the gateway accepts (nobody is mentioned) until people fill it.
"""

from __future__ import annotations

import logging
from typing import Any

from alert_gateway.config import ConfigError, parse_config
from generator.alertmanager import CREDENTIALS_FILE, WATCHDOG
from generator.compose import endpoint
from generator.errors import RenderError
from generator.render import Files, RenderContext, mapping_at
from generator.secrets import literal_secrets

log = logging.getLogger(__name__)

PATH = "gateway/gateway.yml"
TEMPLATE = "gateway/gateway.yml.j2"
# A Monday; the first handoff of a stub rotation, which people set when they
# fill in its members. A fixed date keeps renders byte-identical.
ROTATION_START = "2026-01-05"


def default_channel(stack_name: str) -> str:
    return f"#{stack_name}-alerts"


def render(context: RenderContext) -> Files:
    inventory = context.inventory
    teams = [inventory.teams[name] for name in sorted(inventory.teams)]
    rotations = sorted({team.rotation for team in teams if team.rotation})

    text = context.render(
        TEMPLATE,
        gateway=endpoint(inventory.stack.gateway.address),
        teams=teams,
        rotations=rotations,
        rotation_start=ROTATION_START,
        default_channel=default_channel(inventory.stack.name),
        token_file=CREDENTIALS_FILE,
        watchdog=WATCHDOG,
    )
    log.debug("rendered path=%s teams=%d", PATH, len(teams))
    return {PATH: text}


def check(files: Files, parsed: dict[str, Any]) -> None:
    config = mapping_at(parsed, PATH)
    if config is None:
        return

    teams = {team.get("name"): team for team in config.get("teams") or []}
    rotations = {rotation.get("name") for rotation in config.get("rotations") or []}
    routes = config.get("routes") or []
    routed = {route["team"] for route in routes if route.get("team") is not None}
    for name, team in sorted(teams.items()):
        if name not in routed:
            raise RenderError(f"{PATH}: teams: {name!r} has no route")
        rotation = team.get("rotation")
        if rotation is not None and rotation not in rotations:
            raise RenderError(f"{PATH}: teams: {name!r}: no rotation {rotation!r}")
    for team in sorted(routed - teams.keys(), key=str):
        raise RenderError(f"{PATH}: routes: team {team!r} is not in teams")

    problems = literal_secrets(config)
    if problems:
        raise RenderError(f"{PATH}: {problems[0]}: a secret must be a reference")

    # The gateway's own loader has the last word on what it will accept.
    try:
        parse_config(files[PATH], PATH)
    except ConfigError as error:
        raise RenderError(error.problems[0]) from None
