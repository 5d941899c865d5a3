"""The inventory format: what it accepts, what it refuses and where it says so."""

from __future__ import annotations

import pytest

from generator.errors import InventoryError
from tests.generator.conftest import CARDEALER, MINIMAL, load, write_inventory


def problems_of(tmp_path, text: str) -> list[str]:
    path = write_inventory(tmp_path, text)
    with pytest.raises(InventoryError) as caught:
        load(path)
    return [str(problem).removeprefix(f"{path}:") for problem in caught.value.problems]


def test_cardealer_inventory_has_the_plans_26_services_and_infrastructure():
    inventory = load(CARDEALER)

    http = inventory.services_of("http")
    assert len(http) == 26
    ports = {service.name: service.port for service in http}
    # The ports the plan gives.
    assert ports["gateway"] == 5000
    assert ports["authservice"] == 5085
    assert ports["vehicleservice"] == 5009
    assert inventory.kinds() == ["consul", "http", "postgres", "rabbitmq", "redis"]
    assert inventory.stack.discovery == "consul"


def test_thresholds_layer_pack_defaults_inventory_defaults_and_service_overrides(
    tmp_path,
):
    text = MINIMAL.replace(
        "teams:", "defaults:\n  thresholds:\n    error_ratio: 0.02\nteams:"
    ) + ("    thresholds:\n      latency_p95_seconds: 0.25\n")
    inventory = load(write_inventory(tmp_path, text))

    thresholds = inventory.thresholds(inventory.services[0])
    assert thresholds["latency_p95_seconds"] == 0.25
    assert thresholds["error_ratio"] == 0.02
    assert thresholds["down_for"] == "1m"


def test_every_problem_is_reported_at_once_with_its_position(tmp_path):
    text = """\
stack:
  name: shop
  environment: staging
  colour: blue
teams:
  - name: web
    slack_channel: "#web"
services:
  - name: api
    kind: http
    team: nobody
    port: 8080
  - name: api
    kind: mystery
    team: web
    port: 8081
"""
    assert problems_of(tmp_path, text) == [
        "4:3: stack.colour: unknown key",
        "11:5: services[0].team: team 'nobody' does not exist (known: web)",
        "13:5: services[1].name: duplicate name 'api'",
        "14:5: services[1].kind: no rule pack for kind 'mystery' "
        "(known: consul, http, postgres, rabbitmq, redis)",
    ]


@pytest.mark.parametrize(
    ("port", "shown"),
    [("22:22", "'22:22'"), ("0123", "'0123'"), ("on", "'on'"), ('"8080"', "'8080'")],
)
def test_values_yaml_11_would_change_are_refused_as_typed(tmp_path, port, shown):
    text = MINIMAL.replace("port: 8080", f"port: {port}")

    assert problems_of(tmp_path, text) == [
        f"12:5: services[0].port: expected a whole number, got {shown}"
    ]


def test_strings_that_look_like_numbers_or_booleans_stay_as_typed(tmp_path):
    text = MINIMAL + "    labels:\n      build: 0123\n      window: 22:22\n"
    inventory = load(write_inventory(tmp_path, text))

    assert inventory.services[0].labels == {"build": "0123", "window": "22:22"}


def test_duplicate_ports_on_one_host_are_refused(tmp_path):
    text = (
        MINIMAL.replace("    port: 8080", "    address: web1\n    port: 8080")
        + "  - name: checkout\n    kind: http\n    team: web\n"
        "    address: web1\n    port: 8080\n"
    )

    assert problems_of(tmp_path, text) == [
        "18:5: services[1].port: port 8080 on 'web1' is already used by 'storefront'"
    ]


def test_thresholds_are_checked_against_the_services_pack(tmp_path):
    text = MINIMAL + (
        "    thresholds:\n      latency_p95_seconds: fast\n"
        "      down_for: 1 minute\n      connections_ratio: 0.5\n"
    )

    problems = problems_of(tmp_path, text)

    assert problems[0] == (
        "14:7: services[0].thresholds.latency_p95_seconds: expected a number, "
        "got 'fast'"
    )
    assert problems[1] == (
        "15:7: services[0].thresholds.down_for: expected a duration such as '5m', "
        "got '1 minute'"
    )
    assert problems[2].startswith(
        "16:7: services[0].thresholds.connections_ratio: unknown threshold for kind "
        "'http'"
    )


def test_labels_obsgen_sets_itself_are_refused(tmp_path):
    text = MINIMAL + "    labels:\n      team: other\n"

    assert problems_of(tmp_path, text) == [
        "14:7: services[0].labels.team: label is set by obsgen; choose another"
    ]


def test_names_and_channels_explain_what_is_allowed(tmp_path):
    text = MINIMAL.replace("name: storefront", "name: Store Front").replace(
        '"#web-alerts"', "web-alerts"
    )

    assert problems_of(tmp_path, text) == [
        "6:5: teams[0].slack_channel: 'web-alerts' is not a Slack channel such as "
        "#team-alerts",
        "9:5: services[0].name: 'Store Front' is not a name: up to 63 lower-case "
        "letters, digits and '-', starting with a letter",
    ]


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path):
    assert problems_of(tmp_path, "- just\n- a list\n") == [
        "1:1: expected a mapping at the top"
    ]


def test_missing_sections_are_named(tmp_path):
    assert problems_of(tmp_path, "stack:\n  name: shop\n  environment: dev\n") == [
        "1:1: services: required key is missing",
        "1:1: teams: required key is missing",
    ]


def test_thresholds_must_be_positive_and_ratios_at_most_one(tmp_path):
    text = MINIMAL + (
        "    thresholds:\n      error_ratio: 5\n      cpu_limit_cores: 0\n"
    )

    assert problems_of(tmp_path, text) == [
        "14:7: services[0].thresholds.error_ratio: a ratio is at most 1 "
        "(1 means 100%), got 5",
        "15:7: services[0].thresholds.cpu_limit_cores: expected a number above 0, "
        "got 0",
    ]


def test_a_metrics_port_counts_as_taken_on_its_host(tmp_path):
    text = (
        MINIMAL.replace("    port: 8080", "    address: web1\n    port: 8080")
        + "  - name: checkout\n    kind: http\n    team: web\n"
        "    address: web1\n    port: 8081\n    metrics_port: 8080\n"
    )

    assert problems_of(tmp_path, text) == [
        "19:5: services[1].metrics_port: port 8080 on 'web1' is already used by "
        "'storefront'"
    ]


def test_pydantic_wording_does_not_reach_the_user(tmp_path):
    text = (
        MINIMAL.replace(
            "  environment: staging", "  environment: staging\n  grafana: 5"
        ).replace('"#web-alerts"', "#web-alerts")
        + "    health: [/health, /health]\n"
    )

    assert problems_of(tmp_path, text) == [
        "4:3: stack.grafana: expected a mapping, got 5",
        "7:5: teams[0].slack_channel: has no value (an unquoted # starts a comment: "
        "quote values with #)",
        "14:5: services[0].health: '/health' is listed twice",
    ]


def test_urls_that_would_break_alert_templates_are_refused(tmp_path):
    text = MINIMAL.replace(
        "  environment: staging",
        "  environment: staging\n  runbook_base_url: https://wiki.example/{{x}}",
    )

    assert problems_of(tmp_path, text) == [
        "4:3: stack.runbook_base_url: 'https://wiki.example/{{x}}' is not an http or "
        "https URL without spaces, quotes or braces"
    ]


def test_the_owner_team_must_exist_and_defaults_to_the_first_team(tmp_path):
    text = MINIMAL.replace(
        "  environment: staging", "  environment: staging\n  owner_team: ops"
    )
    assert problems_of(tmp_path, text) == [
        "4:3: stack.owner_team: team 'ops' does not exist"
    ]

    inventory = load(write_inventory(tmp_path, MINIMAL))
    assert inventory.owner_team.name == "web"


def test_lists_where_names_and_ports_belong_are_reported_not_raised(tmp_path):
    text = MINIMAL.replace("- name: web", "- name: [web]").replace(
        "port: 8080", "port: [8080]\n    address: [web1]"
    )

    assert problems_of(tmp_path, text) == [
        "5:5: teams[0].name: expected text, got ['web']",
        "11:5: services[0].team: team 'web' does not exist (known: none)",
        "12:5: services[0].port: expected a whole number, got [8080]",
        "13:5: services[0].address: expected text, got ['web1']",
    ]


def test_a_scrape_may_not_take_longer_than_its_interval(tmp_path):
    text = MINIMAL.replace(
        "  environment: staging", "  environment: staging\n  scrape_timeout: 1m"
    )

    assert problems_of(tmp_path, text) == [
        "4:3: stack.scrape_timeout: a scrape cannot take longer than scrape_interval"
    ]


def test_host_names_collide_whatever_their_case_and_paths_have_no_spaces(tmp_path):
    text = (
        MINIMAL.replace("    port: 8080", "    address: WEB1\n    port: 8080")
        + "  - name: checkout\n    kind: http\n    team: web\n"
        "    address: web1\n    port: 8080\n    health: ['/h?x=1 2']\n"
    )

    assert problems_of(tmp_path, text) == [
        "18:5: services[1].port: port 8080 on 'web1' is already used by 'storefront'",
        "19:14: services[1].health[0]: '/h?x=1 2' is not a path starting with / and "
        "without spaces",
    ]
