"""The grafana target: provisioning, dashboards, and the checks that guard them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from generator import grafana
from generator.dashboard import DATASOURCE_REF, SCHEMA_VERSION
from generator.errors import RenderError
from generator.inventory import Inventory, load_inventory
from generator.links import dashboard_uid, dashboard_url
from generator.packs import load_packs
from generator.render import RenderContext, parse_back
from generator.templating import create_environment
from tests.generator.test_prometheus import promtool

ROOT = Path(__file__).resolve().parents[2]
CARDEALER = ROOT / "examples" / "cardealer" / "inventory.yaml"
INVENTORIES = Path(__file__).resolve().parent / "inventories"
SMALL = INVENTORIES / "graf_small.yaml"
HTTP_ONLY = INVENTORIES / "graf_http_only.yaml"
BOARDS = "grafana/dashboards"


class Rendered:
    """One inventory's grafana files, parsed back as `render_stack` would."""

    def __init__(self, inventory_path: Path, templates: Path | None = None):
        self.inventory: Inventory = load_inventory(
            inventory_path, load_packs(templates)
        )
        self.context = RenderContext(
            self.inventory, create_environment(templates), "inventory.yaml"
        )
        self.files = grafana.render(self.context)
        self.parsed = {
            path: parse_back(path, text) for path, text in self.files.items()
        }

    def boards(self) -> dict[str, dict[str, Any]]:
        return {p: b for p, b in self.parsed.items() if p.startswith(BOARDS)}

    def board(self, name: str) -> dict[str, Any]:
        return self.parsed[f"{BOARDS}/{name}.json"]


@pytest.fixture(scope="module")
def cardealer() -> Rendered:
    return Rendered(CARDEALER)


@pytest.fixture(scope="module")
def small() -> Rendered:
    return Rendered(SMALL)


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def by_title(board: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [p for p in panels(board) if p["title"] == title]
    return found


def red_step(panel: dict[str, Any]) -> Any:
    return panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"]


def all_exprs(board: dict[str, Any]) -> str:
    return " ".join(t["expr"] for p in panels(board) for t in p["targets"])


def variable(board: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [v for v in board["templating"]["list"] if v["name"] == name]
    return found


# What is rendered


def test_cardealer_gets_overview_infrastructure_and_one_dashboard_per_http_service(
    cardealer,
):
    http = [s.name for s in cardealer.inventory.services if s.kind == "http"]
    expected = {f"{BOARDS}/service-{name}.json" for name in http}
    expected |= {f"{BOARDS}/overview.json", f"{BOARDS}/infrastructure.json"}

    assert len(http) == 26
    assert set(cardealer.boards()) == expected
    grafana.check(cardealer.files, cardealer.parsed)


def test_small_inventories_pass_the_structural_checks(small):
    http_only = Rendered(HTTP_ONLY)

    grafana.check(small.files, small.parsed)
    grafana.check(http_only.files, http_only.parsed)
    assert f"{BOARDS}/infrastructure.json" not in http_only.files
    assert all(
        link["title"] != "Infrastructure"
        for link in http_only.board("overview")["links"]
    )


def test_files_are_sorted_two_space_json_with_a_final_newline(cardealer):
    for path, text in cardealer.files.items():
        if path.endswith(".json"):
            again = json.dumps(
                json.loads(text), indent=2, sort_keys=True, ensure_ascii=False
            )
            assert text == again + "\n", path


def test_service_dashboards_equal_serialising_each_one_directly(small):
    # Service dashboards are filled into a serialised prototype; the result must
    # be what serialising each dashboard on its own gives, byte for byte.
    common = grafana.Common(
        inventory=small.inventory,
        note=grafana.generated_note(small.context),
        datasource_uid=grafana.stack_datasource_uid(small.inventory),
        has_infrastructure=True,
    )
    spec = grafana.spec(small.context.environment, grafana.SERVICE_SPEC)
    names = grafana.threshold_names(spec)

    for service in small.inventory.services_of("http"):
        values = grafana.service_values(small.inventory, service, names)
        direct = grafana.serialise(grafana.service_dashboard(common, spec, values))
        assert small.files[f"{BOARDS}/service-{service.name}.json"] == direct


def test_same_inventory_renders_byte_identical_files(small):
    assert Rendered(SMALL).files == small.files


# Dashboard model


def test_dashboards_are_bare_pinned_and_read_only(cardealer):
    for path, board in cardealer.boards().items():
        assert "dashboard" not in board and board.get("id") is None, path
        assert board["schemaVersion"] == SCHEMA_VERSION
        assert board["editable"] is False
        assert "Generated by obsgen" in board["description"]
        assert "inventory.yaml" in board["description"]
        assert {"obsgen", "cardealer"} <= set(board["tags"])


def test_every_panel_and_query_goes_through_the_datasource_variable(cardealer):
    for board in cardealer.boards().values():
        assert variable(board, "datasource")["type"] == "datasource"
        for panel in panels(board):
            assert panel["datasource"] == DATASOURCE_REF
            assert panel["fieldConfig"]["defaults"]["unit"]
            for target in panel["targets"]:
                assert target["datasource"] == {
                    "type": "prometheus",
                    "uid": "${datasource}",
                }
                if "rate(" in target["expr"]:
                    assert "[$__rate_interval]" in target["expr"]


def test_service_dashboard_shows_red_duration_saturation_and_health(cardealer):
    board = cardealer.board("service-userservice")
    exprs = all_exprs(board)

    needles = (
        "http_requests_received_total",
        'code=~"5.."',
        "histogram_quantile(0.50,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
        "process_cpu_seconds_total",
        "process_working_set_bytes",
        "probe_success",
    )
    assert [needle for needle in needles if needle not in exprs] == []
    assert variable(board, "service")["query"] == "userservice"
    assert variable(board, "service")["type"] == "constant"


def test_service_dashboard_uses_the_services_own_thresholds(small):
    gateway = small.board("service-gateway")
    checkout = small.board("service-checkout")

    assert red_step(by_title(gateway, "Request duration percentiles")) == 0.25
    assert red_step(by_title(checkout, "Request duration percentiles")) == 1
    # The inventory's default beats the pack's 0.05.
    assert red_step(by_title(checkout, "Error ratio")) == 0.1
    assert red_step(by_title(gateway, "Memory used of limit")) == 0.9
    assert variable(gateway, "cpu_limit_cores")["query"] == "2"
    assert variable(checkout, "cpu_limit_cores")["query"] == "0.5"
    assert variable(checkout, "memory_limit_bytes")["query"] == "536870912"


def test_infrastructure_has_a_row_per_kind_of_the_inventory_only(small, cardealer):
    def rows(board):
        return [p["title"] for p in board["panels"] if p["type"] == "row"]

    assert rows(small.board("infrastructure")) == ["PostgreSQL", "Redis"]
    assert rows(cardealer.board("infrastructure")) == [
        "Consul",
        "PostgreSQL",
        "RabbitMQ",
        "Redis",
    ]
    choices = variable(small.board("infrastructure"), "service")["query"].split(",")
    assert choices == ["cache", "orders-db"]


def test_infrastructure_queries_use_each_exporters_metric_names(cardealer):
    board = cardealer.board("infrastructure")
    exprs = all_exprs(board)

    metrics = (
        "pg_up",
        "pg_stat_database_numbackends",
        "redis_up",
        "redis_memory_used_bytes",
        "rabbitmq_queue_messages_ready",
        "consul_autopilot_healthy",
    )
    assert [metric for metric in metrics if metric not in exprs] == []
    for panel in panels(board):
        for target in panel["targets"]:
            assert 'service=~"$service"' in target["expr"], panel["title"]


def test_panels_are_laid_out_without_gaps_at_the_left_edge(cardealer):
    board = cardealer.board("service-gateway")
    rows = [p for p in board["panels"] if p["type"] == "row"]

    assert [r["gridPos"]["y"] for r in rows] == sorted(r["gridPos"]["y"] for r in rows)
    assert by_title(board, "Up")["gridPos"] == {"h": 5, "w": 12, "x": 0, "y": 1}
    assert by_title(board, "Health checks")["gridPos"] == {
        "h": 5,
        "w": 12,
        "x": 12,
        "y": 1,
    }


# Links and uids


def test_every_alert_dashboard_url_opens_a_rendered_dashboard(cardealer):
    inventory = cardealer.inventory
    uids = {board["uid"]: board for board in cardealer.boards().values()}
    infra_choices = variable(cardealer.board("infrastructure"), "service")["query"]

    for service in inventory.services:
        url = dashboard_url(inventory, service)
        uid, _, query = url.split("/d/", 1)[1].partition("?")
        assert uid in uids, url
        if query:
            assert query == f"var-service={service.name}"
            assert service.name in infra_choices.split(",")


def test_uids_are_unique_stable_and_short(tmp_path):
    first = Rendered(HTTP_ONLY)
    uids = [board["uid"] for board in first.boards().values()]

    assert len(set(uids)) == len(uids)
    assert all(len(uid) <= 40 for uid in uids)
    long_name = "an-exceedingly-long-service-name-for-uid-limits"
    expected = dashboard_uid(first.inventory, f"service-{long_name}")
    assert first.board(f"service-{long_name}")["uid"] == expected
    assert [b["uid"] for b in Rendered(HTTP_ONLY).boards().values()] == uids


def test_overview_and_service_dashboards_link_to_each_other(small):
    overview = small.board("overview")
    (dropdown,) = [link for link in overview["links"] if link["type"] == "dashboards"]

    for service in small.inventory.services_of("http"):
        board = small.board(f"service-{service.name}")
        assert set(dropdown["tags"]) <= set(board["tags"])
        urls = [link.get("url") for link in board["links"]]
        assert f"/d/{overview['uid']}" in urls
    assert not set(dropdown["tags"]) <= set(overview["tags"])


def test_infrastructure_links_to_the_others_but_not_to_itself(small):
    infrastructure = small.board("infrastructure")
    urls = [link.get("url") for link in infrastructure["links"]]

    assert f"/d/{infrastructure['uid']}" not in urls
    assert f"/d/{small.board('overview')['uid']}" in urls
    checkout = small.board("service-checkout")
    assert f"/d/{infrastructure['uid']}" in [
        link.get("url") for link in checkout["links"]
    ]


# Every kind of `up` series a stack has: an http service, an exporter's, a
# health probe's, Prometheus' own and the stack's containers; one of the last
# is down. Only checkout and orders-db are services of the inventory.
UP_SERIES = {
    'up{job="http", service="checkout", kind="http"}': "1",
    'up{job="postgres", service="orders-db", kind="postgres"}': "1",
    'up{job="health-probe", service="checkout", kind="http", endpoint="/health"}': "1",
    'up{job="prometheus-self", service="prometheus", kind="prometheus"}': "1",
    'up{job="stack-grafana", service="grafana", kind="stack"}': "1",
    'up{job="stack-alertmanager", service="alertmanager", kind="stack"}': "0",
    'ALERTS{alertname="Watchdog", alertstate="firing", severity="info"}': "1",
    'ALERTS{alertname="ServiceDown", alertstate="firing", service="x"}': "1",
}


def test_overview_counts_the_inventorys_services_and_real_alerts_only(small, tmp_path):
    overview = small.board("overview")
    expected = {
        "Services up": [("{}", 2)],
        "Services down": [("{}", 0)],
        "Up by service": [('{service="checkout"}', 1), ('{service="orders-db"}', 1)],
        "Firing alerts": [("{}", 1)],
        "Stack up": [
            ('{service="alertmanager"}', 0),
            ('{service="grafana"}', 1),
            ('{service="prometheus"}', 1),
        ],
    }
    tests = [
        {
            "expr": by_title(overview, title)["targets"][0]["expr"],
            "eval_time": "1m",
            "exp_samples": [
                {"labels": labels, "value": value} for labels, value in samples
            ],
        }
        for title, samples in expected.items()
    ]
    unit = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series, "values": f"{value} {value}"}
                    for series, value in UP_SERIES.items()
                ],
                "promql_expr_test": tests,
            }
        ],
    }
    path = tmp_path / "overview_test.yml"
    path.write_text(json.dumps(unit))

    result = promtool("test", "rules", path)

    assert result.returncode == 0, result.stdout + result.stderr


# Provisioning


def test_provisioning_reads_the_mounted_folder_and_matches_the_dashboards(small):
    datasources = small.parsed["grafana/provisioning/datasources/prometheus.yml"]
    providers = small.parsed["grafana/provisioning/dashboards/obsgen.yml"]
    (datasource,) = datasources["datasources"]
    (provider,) = providers["providers"]

    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["isDefault"] is True
    assert provider["options"]["path"] == grafana.DASHBOARDS_CONTAINER_PATH
    assert provider["folder"] == "shop"
    assert provider["allowUiUpdates"] is False
    for board in small.boards().values():
        assert variable(board, "datasource")["current"]["value"] == datasource["uid"]
    for path in (
        "grafana/provisioning/datasources/prometheus.yml",
        grafana.PROVIDER_FILE,
    ):
        assert small.files[path].startswith("# Generated by obsgen")
    assert grafana.DASHBOARDS_CONTAINER_PATH == "/var/lib/grafana/dashboards"
    assert grafana.PROVISIONING_CONTAINER_PATH == "/etc/grafana/provisioning"


def test_compose_mounts_the_folders_where_provisioning_looks(small):
    # The compose file mounts the rendered folders; the provider's path and the
    # provisioning folder must be where those mounts land.
    from generator import compose

    rendered = compose.render(small.context)
    (path,) = [p for p in rendered if p.endswith(".yml")]
    volumes = parse_back(path, rendered[path])["services"]["grafana"]["volumes"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in volumes}

    assert mounts["../grafana/dashboards"] == grafana.DASHBOARDS_CONTAINER_PATH
    assert mounts["../grafana/provisioning"] == grafana.PROVISIONING_CONTAINER_PATH


def test_check_refuses_a_provider_reading_another_folder(small):
    parsed = copy.deepcopy(small.parsed)
    parsed[grafana.PROVIDER_FILE]["providers"][0]["options"]["path"] = "/elsewhere"

    with pytest.raises(RenderError, match="must read /var/lib/grafana/dashboards"):
        grafana.check(small.files, parsed)
