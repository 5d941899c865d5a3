"""alertmanager.yml: accepted by amtool, routes each team to its gateway webhook."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import alertmanager
from generator.errors import RenderError
from generator.inventory import Inventory, load_inventory
from generator.packs import load_packs
from generator.render import (
    Files,
    RenderContext,
    Target,
    default_targets,
    parse_back,
    render_stack,
    source_name,
)
from generator.templating import create_environment
from tests.generator.conftest import CARDEALER, INVENTORIES, needs

SMALL = INVENTORIES / "am_small.yaml"
INVENTORY_FILES = [CARDEALER, SMALL]


def render_tree(
    inventory_path: Path,
    output: Path,
    user_templates: Path | None = None,
    targets: list[Target] | None = None,
) -> tuple[Inventory, Files]:
    """Render the whole stack for `inventory_path` and write it under `output`
    as `obsgen render` lays it out, so that relative paths between files hold."""
    packs = load_packs(user_templates)
    inventory = load_inventory(inventory_path, packs)
    context = RenderContext(
        inventory=inventory,
        environment=create_environment(user_templates),
        source_name=source_name(inventory_path, output),
    )
    files = render_stack(context, targets or default_targets())
    for relative, text in files.items():
        path = output / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return inventory, files


@pytest.fixture(scope="module", params=INVENTORY_FILES, ids=["cardealer", "small"])
def rendered(request, tmp_path_factory) -> tuple[Inventory, Path, dict]:
    output = tmp_path_factory.mktemp("am") / "stack"
    inventory, files = render_tree(request.param, output)
    config = parse_back(alertmanager.PATH, files[alertmanager.PATH])
    return inventory, output / alertmanager.PATH, config


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [needs("amtool"), *args], capture_output=True, text=True, timeout=60
    )


def route_test(config_file: Path, receiver: str, *labels: str):
    return amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config_file}",
        f"--verify.receivers={receiver}",
        *labels,
    )


def test_amtool_accepts_the_config(rendered):
    _, config_file, _ = rendered

    result = amtool("check-config", str(config_file))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_each_team_routes_to_its_own_receiver(rendered):
    inventory, config_file, _ = rendered

    for team in inventory.teams:
        for severity in ("critical", "warning"):
            result = route_test(
                config_file, f"team-{team}", f"team={team}", f"severity={severity}"
            )
            assert result.returncode == 0, (team, result.stdout + result.stderr)


def test_team_routes_do_not_catch_other_teams(rendered):
    inventory, config_file, _ = rendered
    team = sorted(inventory.teams)[0]

    result = route_test(config_file, f"team-{team}", "team=someone-else")

    assert result.returncode != 0


@pytest.mark.parametrize(
    "labels",
    [("team=nobody", "severity=critical"), ("severity=warning",)],
    ids=["unknown-team", "no-team"],
)
def test_alerts_of_no_known_team_go_to_the_default_receiver(rendered, labels):
    _, config_file, _ = rendered

    result = route_test(config_file, "default", *labels)

    assert result.returncode == 0, result.stdout + result.stderr


def test_team_receivers_post_to_the_gateway_with_the_team_in_the_url(rendered):
    inventory, _, config = rendered
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    gateway_address = inventory.stack.gateway.address

    for team in inventory.teams:
        (webhook,) = receivers[f"team-{team}"]["webhook_configs"]
        assert webhook["url"] == f"http://{gateway_address}/alertmanager/{team}"
        assert webhook["send_resolved"] is True
        assert webhook["max_alerts"] == 0
    (default,) = receivers["default"]["webhook_configs"]
    assert default["url"] == f"http://{gateway_address}/alertmanager"


def test_notifications_are_grouped_by_alert_and_service(rendered):
    _, _, config = rendered

    assert config["route"]["group_by"] == ["alertname", "service"]
    assert config["route"]["receiver"] == "default"


def test_credentials_are_read_from_a_secret_file(rendered):
    _, config_file, config = rendered
    webhooks = [w for r in config["receivers"] for w in r["webhook_configs"]]

    for webhook in webhooks:
        authorization = webhook["http_config"]["authorization"]
        assert authorization["credentials_file"].startswith("/run/secrets/")
        assert "credentials" not in authorization
    assert "credentials:" not in config_file.read_text()


def matches(matcher: str, labels: dict[str, str]) -> bool:
    """Whether one `name="value"` or `name!="value"` matcher selects `labels`."""
    found = re.fullmatch(r'(\w+)(!?=)"([^"]*)"', matcher)
    assert found, f"not an equality matcher: {matcher}"
    equal = labels.get(found.group(1), "") == found.group(3)
    return equal if found.group(2) == "=" else not equal


def inhibits(rule: dict, source: dict[str, str], target: dict[str, str]) -> bool:
    """Alertmanager's inhibition decision for one rule and two alerts."""
    return (
        all(matches(m, source) for m in rule["source_matchers"])
        and all(matches(m, target) for m in rule["target_matchers"])
        and all(source.get(label) == target.get(label) for label in rule["equal"])
    )


def test_criticals_inhibit_warnings_of_the_same_service_only(rendered):
    _, _, config = rendered
    (rule,) = config["inhibit_rules"]
    down = {"alertname": "ServiceDown", "severity": "critical", "service": "api"}

    slow_same = {"alertname": "HighLatency", "severity": "warning", "service": "api"}
    slow_other = {"alertname": "HighLatency", "severity": "warning", "service": "web"}
    down_other = {"alertname": "ServiceDown", "severity": "critical", "service": "web"}

    assert inhibits(rule, down, slow_same)
    assert not inhibits(rule, down, slow_other)
    assert not inhibits(rule, down, down_other)
    assert not inhibits(rule, slow_same, down)


def watchdog_labels(config_file: Path) -> dict[str, str]:
    """The labels of the Watchdog alert as the stack's rule file renders them."""
    rules = config_file.parents[1] / "prometheus" / "rules" / "stack.yml"
    document = yaml.safe_load(rules.read_text())
    (rule,) = [
        rule
        for group in document["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "Watchdog"
    ]
    return {"alertname": "Watchdog", **rule["labels"]}


def test_watchdog_goes_to_the_default_receiver_on_its_own_route(rendered):
    inventory, config_file, config = rendered
    labels = watchdog_labels(config_file)
    assert labels["team"] in inventory.teams

    result = route_test(
        config_file, "default", *(f"{k}={v}" for k, v in labels.items())
    )

    assert result.returncode == 0, result.stdout + result.stderr
    (route,) = [
        route
        for route in config["route"]["routes"]
        if 'alertname="Watchdog"' in route.get("matchers", [])
    ]
    assert route["repeat_interval"] == "1h"
    assert not route.get("continue", False)


def test_watchdog_mutes_no_alert_whatever_its_severity(rendered):
    _, config_file, config = rendered
    (rule,) = config["inhibit_rules"]
    watchdog = watchdog_labels(config_file)
    warning = {"alertname": "X", "severity": "warning", "service": watchdog["service"]}

    assert watchdog["severity"] == "info"
    assert not inhibits(rule, watchdog, warning)
    assert not inhibits(rule, {**watchdog, "severity": "critical"}, warning)
    assert inhibits(
        rule, {**watchdog, "alertname": "Other", "severity": "critical"}, warning
    )


def test_the_config_uses_matchers_not_the_deprecated_match_syntax(rendered):
    _, config_file, _ = rendered
    text = config_file.read_text()

    assert not re.search(r"^\s*(match|match_re|source_match|target_match):", text, re.M)


def test_the_file_starts_with_the_generated_banner(rendered):
    _, config_file, _ = rendered

    assert config_file.read_text().startswith("# Generated by obsgen")


def broken(document: dict, change) -> dict:
    """A deep copy of a parsed file with `change` applied, for check() tests."""
    copy = yaml.safe_load(yaml.safe_dump(document))
    change(copy)
    return copy


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["route"]["routes"].pop(), "has no route"),
        (
            lambda c: c["route"]["routes"][0].update(receiver="team-ghost"),
            "no receiver named",
        ),
        (
            lambda c: c["receivers"][0]["webhook_configs"][0]["http_config"][
                "authorization"
            ].update(credentials="hunter2"),
            "file reference",
        ),
        (lambda c: c["receivers"].append(dict(c["receivers"][0])), "duplicate"),
    ],
    ids=["team-without-route", "unknown-receiver", "literal-token", "duplicate"],
)
def test_check_rejects_a_broken_config(rendered, change, message):
    _, _, config = rendered

    with pytest.raises(RenderError, match=message):
        alertmanager.check({}, {alertmanager.PATH: broken(config, change)})


def test_rendering_twice_gives_identical_files(tmp_path):
    _, first = render_tree(SMALL, tmp_path / "one")
    _, second = render_tree(SMALL, tmp_path / "two")

    assert first == second
