"""gateway.yml: loaded by the gateway's own loader, one route per team."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from alert_gateway.clock import SystemClock
from alert_gateway.config import GatewayConfig, load_config
from alert_gateway.oncall import on_call
from alert_gateway.routing import Router
from generator import gateway
from generator.errors import RenderError
from generator.inventory import Inventory
from generator.render import parse_back
from tests.generator.conftest import CARDEALER
from tests.generator.test_alertmanager import SMALL, broken, render_tree


@pytest.fixture(scope="module", params=[CARDEALER, SMALL], ids=["cardealer", "small"])
def rendered(request, tmp_path_factory) -> tuple[Inventory, Path, GatewayConfig]:
    output = tmp_path_factory.mktemp("gateway") / "stack"
    inventory, _ = render_tree(request.param, output)
    path = output / gateway.PATH
    # The secrets are files under /run/secrets that only exist in the container.
    config = load_config(path, resolve_secrets=False)
    return inventory, path, config


def test_every_team_has_a_route_to_its_channel(rendered):
    inventory, _, config = rendered

    routes = {route.team: route for route in config.routes if route.team}
    assert routes.keys() == inventory.teams.keys()
    for name, team in inventory.teams.items():
        assert routes[name].matchers == {"team": name}
        assert routes[name].channel == team.slack_channel
        assert config.team(name).channel == team.slack_channel


def gateway_target(config: GatewayConfig, labels: dict[str, str], team: str | None):
    """Where the gateway's own routing sends a group with `labels`, posted to
    the webhook of `team` (None: the team-less one)."""
    # Routing reads only the configuration and the group's labels.
    router = Router(config, SystemClock())
    state = SimpleNamespace(common_labels=labels, group_labels=labels)
    return router.route(state, team)  # type: ignore[arg-type]


def test_watchdog_stays_in_the_default_channel_and_other_alerts_follow_their_team(
    rendered,
):
    inventory, path, config = rendered
    rules = path.parents[1] / "prometheus" / "rules" / "stack.yml"
    (watchdog,) = [
        rule
        for group in yaml.safe_load(rules.read_text())["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "Watchdog"
    ]
    labels = {"alertname": "Watchdog", **watchdog["labels"]}
    team = inventory.teams[labels["team"]]

    target = gateway_target(config, labels, None)

    assert target.channel == config.default_channel != team.slack_channel
    assert target.team is None
    down = {**labels, "alertname": "GrafanaDown", "severity": "critical"}
    assert gateway_target(config, down, None).channel == team.slack_channel


def test_every_named_rotation_has_a_stub_nobody_is_on_call_in(rendered):
    inventory, _, config = rendered
    named = {team.rotation for team in inventory.teams.values() if team.rotation}

    assert {rotation.name for rotation in config.rotations} == named
    for team in inventory.teams.values():
        assert config.team(team.name).rotation == team.rotation
        if team.rotation is None:
            continue
        rotation = config.rotation(team.rotation)
        assert rotation.time_zone == "UTC"
        assert rotation.shift == "weekly"
        assert rotation.members == {}
        assert on_call(rotation, datetime(2027, 3, 1, 12, tzinfo=UTC)) is None


def test_the_gateway_listens_where_alertmanager_posts(rendered):
    inventory, _, config = rendered
    port = inventory.stack.gateway.address.split(":")[1]

    assert config.listen.port == int(port)
    assert config.public_url is None
    assert config.alertmanager_url == f"http://{inventory.stack.alertmanager.address}"


def test_secrets_are_files_shared_with_alertmanager(rendered):
    _, path, config = rendered
    alertmanager = yaml.safe_load(
        (path.parents[1] / "alertmanager" / "alertmanager.yml").read_text()
    )
    credentials = {
        webhook["http_config"]["authorization"]["credentials_file"]
        for receiver in alertmanager["receivers"]
        for webhook in receiver["webhook_configs"]
    }

    assert credentials == {config.secrets.webhook_bearer_token.file}
    for name in ("slack_bot_token", "slack_signing_secret", "webhook_bearer_token"):
        reference = getattr(config.secrets, name)
        assert reference.file.startswith("/run/secrets/"), name


def test_escalation_pages_unanswered_criticals_after_15_minutes(rendered):
    _, _, config = rendered

    assert config.escalation.after_minutes == 15
    assert config.escalation.severities == ["critical"]


def test_handoff_stays_a_wall_clock_time(rendered):
    _, path, _ = rendered

    assert 'handoff: "09:00"' in path.read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["routes"].pop(), "has no route"),
        (lambda c: c["teams"].pop(0), "not in teams"),
        (lambda c: c["teams"][0].update(rotation="ghost"), "no rotation"),
        (lambda c: c["secrets"].update(slack_bot_token="xoxb-1-2-3"), "reference"),
        (
            lambda c: c["rotations"][0].update(time_zone="Mars/Olympus"),
            r"rotations\[0\].time_zone: unknown IANA time zone",
        ),
    ],
    ids=[
        "team-without-route",
        "route-without-team",
        "rotation",
        "inline-token",
        "zone",
    ],
)
def test_check_rejects_a_broken_config(rendered, change, message):
    _, path, _ = rendered
    document = broken(parse_back(gateway.PATH, path.read_text()), change)
    text = yaml.safe_dump(document)

    with pytest.raises(RenderError, match=message):
        gateway.check({gateway.PATH: text}, {gateway.PATH: document})
