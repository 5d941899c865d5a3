"""prometheus.yml, file_sd targets and blackbox.yml: accepted by the real tools,
with the jobs, labels and probes the inventory asks for."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import prometheus, runbooks
from generator.errors import RenderError
from generator.inventory import Inventory, load_inventory
from generator.packs import load_packs
from generator.render import Files, RenderContext, parse_back, render_stack
from generator.templating import create_environment
from tests.generator.conftest import CARDEALER, INVENTORIES, needs

STACK_JOBS = [
    "prometheus-self",
    "stack-alertmanager",
    "stack-blackbox-exporter",
    "stack-grafana",
    "stack-alert-gateway",
]
STATIC = INVENTORIES / "prom_static.yaml"
FILE_SD = INVENTORIES / "prom_file_sd.yaml"
CONSUL = INVENTORIES / "prom_consul.yaml"


def render_tree(
    inventory_path: Path, output: Path, user_templates: Path | None = None
) -> tuple[Inventory, Files]:
    """Render the Prometheus files and runbooks of `inventory_path` into `output`,
    laid out as `obsgen render` writes them so relative paths hold."""
    inventory = load_inventory(inventory_path, load_packs(user_templates))
    context = RenderContext(inventory, create_environment(user_templates), "inv.yaml")
    files = render_stack(context, [prometheus, runbooks])
    for relative, text in files.items():
        path = output / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return inventory, files


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [needs("promtool"), *(str(arg) for arg in args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=60)


def scrape_config(files: Files, job: str) -> dict:
    config = parse_back(prometheus.CONFIG, files[prometheus.CONFIG])
    jobs = {entry["job_name"]: entry for entry in config["scrape_configs"]}
    return jobs[job]


def static_targets(job: dict) -> dict[str, dict[str, str]]:
    """Labels of every static target of `job` by address, with those the job's
    relabelling sets to the same value on every target."""
    constant = {
        step["target_label"]: step["replacement"]
        for step in job.get("relabel_configs", [])
        if "source_labels" not in step and not step["target_label"].startswith("__")
    }
    return {
        address: {**entry["labels"], **constant}
        for entry in job.get("static_configs", [])
        for address in entry["targets"]
    }


@pytest.mark.parametrize("inventory", [STATIC, FILE_SD], ids=["static", "file_sd"])
def test_promtool_accepts_config_and_the_rule_files_it_names(inventory, tmp_path):
    render_tree(inventory, tmp_path)

    result = promtool("check", "config", tmp_path / prometheus.CONFIG)

    assert result.returncode == 0, result.stdout + result.stderr
    # The rule_files glob resolved next to the config: every kind's file was read.
    for kind in ("consul", "http", "postgres", "rabbitmq", "redis"):
        assert f"rules/{kind}.yml" in result.stdout


def promtool_has_consul_sd(tmp_path: Path) -> bool:
    probe = tmp_path / "consul-probe.yml"
    probe.write_text(
        "scrape_configs:\n  - job_name: x\n    consul_sd_configs:\n"
        "      - server: localhost:8500\n"
    )
    return promtool("check", "config", probe).returncode == 0


def test_promtool_accepts_consul_discovery_config(tmp_path):
    render_tree(CONSUL, tmp_path)
    if not promtool_has_consul_sd(tmp_path):
        pytest.skip(
            "this promtool was built without Consul service discovery (Debian's "
            "prometheus package disables it); the next test checks the rest"
        )
    result = promtool("check", "config", tmp_path / prometheus.CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_consul_config_without_its_catalog_watches_passes_promtool(tmp_path):
    # With Consul SD compiled out, promtool can still check everything else of
    # the Consul-mode config once the catalog watches are taken away.
    _, files = render_tree(CONSUL, tmp_path)
    config = parse_back(prometheus.CONFIG, files[prometheus.CONFIG])
    for job in config["scrape_configs"]:
        job.pop("consul_sd_configs", None)
    stripped = tmp_path / "prometheus" / "stripped.yml"
    stripped.write_text(yaml.safe_dump(config))

    result = promtool("check", "config", stripped)

    assert result.returncode == 0, result.stdout + result.stderr


def test_blackbox_exporter_accepts_its_config(tmp_path):
    render_tree(STATIC, tmp_path)
    command = [
        needs("prometheus-blackbox-exporter"),
        "--config.check",
        f"--config.file={tmp_path / prometheus.BLACKBOX_CONFIG}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((tmp_path / prometheus.BLACKBOX_CONFIG).read_text())
    assert config["modules"][prometheus.PROBE_MODULE]["prober"] == "http"


def test_global_settings_rule_files_and_alertmanager_come_from_the_inventory(tmp_path):
    _, files = render_tree(STATIC, tmp_path)
    config = parse_back(prometheus.CONFIG, files[prometheus.CONFIG])

    assert config["global"]["external_labels"] == {"stack": "shop", "env": "test"}
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    alertmanagers = config["alerting"]["alertmanagers"]
    assert alertmanagers == [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]
    assert files[prometheus.CONFIG].startswith("# Generated by obsgen")


def test_static_jobs_one_per_kind_with_every_service_labelled(tmp_path):
    _, files = render_tree(STATIC, tmp_path)
    config = parse_back(prometheus.CONFIG, files[prometheus.CONFIG])
    names = [job["job_name"] for job in config["scrape_configs"]]

    kinds = ["consul", "http", "postgres", "rabbitmq", "redis"]
    assert sorted(names) == sorted(["health-probe", *STACK_JOBS, *kinds])
    http = static_targets(scrape_config(files, "http"))
    assert http["checkout:8080"] == {
        "env": "test",
        "kind": "http",
        "service": "checkout",
        "team": "storefront",
    }
    assert http["gateway:8081"]["tier"] == "edge"
    # A service's own metrics port and path override the pack's.
    assert http["search:9102"]["__metrics_path__"] == "/internal/metrics"


@pytest.mark.parametrize(
    "inventory", [STATIC, FILE_SD, CONSUL], ids=["static", "file_sd", "consul"]
)
def test_the_stack_itself_is_scraped_with_its_owners_labels(inventory, tmp_path):
    document = yaml.safe_load(inventory.read_text())
    document["stack"]["alertmanager"] = {"address": "am:9094"}
    document["stack"]["gateway"] = {"address": "gw:8095"}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    _, files = render_tree(path, tmp_path / "out")

    expected = {
        "prometheus-self": ("localhost:9090", "prometheus", "prometheus"),
        "stack-alertmanager": ("am:9094", "am", "stack"),
        "stack-blackbox-exporter": (
            "blackbox-exporter:9115",
            "blackbox-exporter",
            "stack",
        ),
        "stack-grafana": ("grafana:3000", "grafana", "stack"),
        "stack-alert-gateway": ("gw:8095", "gw", "stack"),
    }
    env = document["stack"]["environment"]
    for job, (address, service, kind) in expected.items():
        config = scrape_config(files, job)
        assert config["metrics_path"] == "/metrics"
        # Never through the catalog or target files: the stack watches itself.
        assert "consul_sd_configs" not in config and "file_sd_configs" not in config
        labels = {"env": env, "kind": kind, "service": service, "team": "platform"}
        assert static_targets(config) == {address: labels}


def test_exporter_kinds_scrape_their_exporter_and_others_their_usual_port(tmp_path):
    _, files = render_tree(STATIC, tmp_path)

    assert list(static_targets(scrape_config(files, "postgres"))) == [
        "orders-db-exporter:9187"
    ]
    assert list(static_targets(scrape_config(files, "redis"))) == [
        "cache-exporter:9121"
    ]
    assert list(static_targets(scrape_config(files, "rabbitmq"))) == ["broker:15692"]
    consul = scrape_config(files, "consul")
    assert list(static_targets(consul)) == ["consul:8500"]
    assert consul["metrics_path"] == "/v1/agent/metrics"
    assert consul["params"] == {"format": ["prometheus"]}


def test_probe_job_covers_every_health_endpoint_of_http_services(tmp_path):
    _, files = render_tree(STATIC, tmp_path)
    probe = scrape_config(files, "health-probe")

    assert probe["metrics_path"] == "/probe"
    assert probe["params"] == {"module": ["http_2xx"]}
    targets = static_targets(probe)
    assert sorted(targets) == [
        "http://checkout:8080/health",
        "http://checkout:8080/health/ready",
        "http://gateway:8081/health",
        "http://search:8082/health",
    ]
    ready = targets["http://checkout:8080/health/ready"]
    assert ready["endpoint"] == "/health/ready"
    assert ready["service"] == "checkout" and ready["team"] == "storefront"
    assert targets["http://gateway:8081/health"]["tier"] == "edge"
    assert probe["relabel_configs"] == [
        {"target_label": "env", "replacement": "test"},
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": "blackbox-exporter:9115"},
    ]


def test_file_sd_jobs_read_target_files_holding_the_same_targets(tmp_path):
    _, files = render_tree(FILE_SD, tmp_path)

    http = scrape_config(files, "http")
    assert http["file_sd_configs"] == [{"files": ["targets/http.json"]}]
    assert "static_configs" not in http
    groups = json.loads(files["prometheus/targets/http.json"])
    by_address = {group["targets"][0]: group["labels"] for group in groups}
    assert sorted(by_address) == ["checkout:8080", "gateway:8081", "search:9102"]
    assert by_address["gateway:8081"]["tier"] == "edge"
    probes = json.loads(files["prometheus/targets/health-probe.json"])
    assert len(probes) == 4
    assert all(set(group["labels"]) >= {"service", "team", "kind"} for group in probes)
    # env and kind are the same for every target of a kind: the job sets them.
    assert by_address["checkout:8080"] == {"service": "checkout", "team": "storefront"}
    assert static_targets({**http, "static_configs": groups})["checkout:8080"] == {
        "env": "test",
        "kind": "http",
        "service": "checkout",
        "team": "storefront",
    }


def test_consul_jobs_watch_only_the_inventorys_services_and_relabel_them(tmp_path):
    _, files = render_tree(CONSUL, tmp_path)
    http = scrape_config(files, "http")

    assert http["consul_sd_configs"] == [
        {
            "server": "consul:8500",
            "datacenter": "dc1",
            "tags": ["metrics"],
            "services": ["checkout", "gateway", "search"],
        }
    ]
    relabel = http["relabel_configs"]
    assert relabel_value(relabel, "service", "checkout") == "checkout"
    assert relabel_value(relabel, "team", "checkout") == "storefront"
    assert relabel_value(relabel, "team", "gateway") == "platform"
    assert relabel_value(relabel, "tier", "gateway") == "edge"
    assert relabel_value(relabel, "tier", "checkout") is None
    assert relabel_value(relabel, "env", "checkout") == "staging"
    assert relabel_value(relabel, "kind", "search") == "http"
    assert relabel_value(relabel, "__metrics_path__", "search") == "/internal/metrics"


def relabel_value(steps: list[dict], label: str, service: str) -> str | None:
    """What Prometheus' relabelling sets `label` to for a target of `service`."""
    target = {"__meta_consul_service": service, "__address__": "10.0.0.7:8080"}
    return relabel(steps, target).get(label)


# `$$`, `${name}` or `$name` in a replacement, as Go's regexp Expand reads them;
# any other `$` stays as it is.
GO_REFERENCE = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def go_expand(template: str, match: re.Match) -> str:
    """`template` expanded against `match` as Prometheus' relabelling does."""

    def reference(found: re.Match) -> str:
        if found.group(0) == "$$":
            return "$"
        name = found.group(1) or found.group(2)
        if name.isdigit():
            number = int(name)
            return (match.group(number) or "") if number <= match.re.groups else ""
        return (match.groupdict().get(name)) or ""

    return GO_REFERENCE.sub(reference, template)


def relabel(steps: list[dict], labels: dict[str, str]) -> dict[str, str]:
    """`labels` after Prometheus' `replace` relabelling `steps` (obsgen writes no
    other action): the regex must match the joined sources whole, and an empty
    result removes the label."""
    labels = dict(labels)
    for step in steps:
        value = ";".join(labels.get(name, "") for name in step.get("source_labels", []))
        match = re.fullmatch(step.get("regex", "(.*)"), value)
        if match is None:
            continue
        result = go_expand(step.get("replacement", "$1"), match)
        if result:
            labels[step["target_label"]] = result
        else:
            labels.pop(step["target_label"], None)
    return labels


def scraped_labels(job: dict, targets: dict[str, dict[str, str]]) -> dict[str, dict]:
    """The labels of each target (by service) once the job's relabelling ran."""
    result = {}
    for address, labels in targets.items():
        start = {"__address__": address, "__metrics_path__": job["metrics_path"]}
        final = relabel(job.get("relabel_configs", []), {**start, **labels})
        result[final["service"]] = {
            name: value for name, value in final.items() if name != "__address__"
        }
    return result


def test_label_values_with_dollars_are_the_same_in_every_discovery_mode(tmp_path):
    document = yaml.safe_load(CONSUL.read_text())
    odd = {"price": "$1 ${1} $HOME", "cost": "$$5", "plain": "a$"}
    for service in document["services"]:
        if service["name"] in ("checkout", "search"):
            service["labels"] = odd
        if service["name"] == "search":
            service["metrics_path"] = "/metrics$1"

    labels = {}
    for mode in ("static", "consul"):
        document["stack"]["discovery"] = mode
        path = tmp_path / f"{mode}.yaml"
        path.write_text(yaml.safe_dump(document))
        _, files = render_tree(path, tmp_path / mode)
        job = scrape_config(files, "http")
        if mode == "static":
            targets = job_targets(job)
        else:
            services = job["consul_sd_configs"][0]["services"]
            targets = {
                f"10.0.0.{i}:{8080 + i}": {"__meta_consul_service": name}
                for i, name in enumerate(services)
            }
        labels[mode] = scraped_labels(job, targets)

    assert labels["static"]["checkout"]["price"] == "$1 ${1} $HOME"
    assert labels["static"]["checkout"]["cost"] == "$$5"
    for service in ("checkout", "gateway", "search"):
        consul = labels["consul"][service]
        consul.pop("__meta_consul_service")
        assert consul == labels["static"][service]
    assert labels["consul"]["search"]["__metrics_path__"] == "/metrics$1"


def job_targets(job: dict) -> dict[str, dict[str, str]]:
    return {
        address: entry["labels"]
        for entry in job.get("static_configs", [])
        for address in entry["targets"]
    }


def test_consul_rewrites_the_port_of_a_kind_scraped_on_another_port(tmp_path):
    _, files = render_tree(CONSUL, tmp_path)
    steps = scrape_config(files, "rabbitmq")["relabel_configs"]
    rewrite = [step for step in steps if step["target_label"] == "__address__"]

    assert len(rewrite) == 1
    # Consul says the broker listens on 5672; its metrics are on 15692.
    match = re.fullmatch(rewrite[0]["regex"], "broker;10.0.0.7:5672")
    assert match is not None
    assert rewrite[0]["replacement"].replace("${1}", match.group(1)) == "10.0.0.7:15692"
    assert re.fullmatch(rewrite[0]["regex"], "other;10.0.0.7:5672") is None


def test_consul_server_and_exporters_stay_static_under_consul_discovery(tmp_path):
    _, files = render_tree(CONSUL, tmp_path)

    consul = scrape_config(files, "consul")
    assert "consul_sd_configs" not in consul
    assert list(static_targets(consul)) == ["consul:8500"]
    postgres = scrape_config(files, "postgres")
    assert "consul_sd_configs" not in postgres
    assert static_targets(postgres)["orders-db-exporter:9187"]["env"] == "staging"
    # Probes keep running when a service leaves the catalog.
    assert "http://checkout:8080/health" in static_targets(
        scrape_config(files, "health-probe")
    )


def test_cardealer_scrapes_its_applications_through_consul(tmp_path):
    inventory, files = render_tree(CARDEALER, tmp_path)
    http = scrape_config(files, "http")

    services = http["consul_sd_configs"][0]["services"]
    assert services == [service.name for service in inventory.services_of("http")]
    assert len(services) == 26
    probes = static_targets(scrape_config(files, "health-probe"))
    assert "http://authservice:5085/health/live" in probes
    assert len(probes) == 26 + 2 * 2  # two services probe three endpoints


def test_same_inventory_renders_byte_identical_files(tmp_path):
    _, first = render_tree(CARDEALER, tmp_path / "a")
    _, second = render_tree(CARDEALER, tmp_path / "b")
    assert first == second


def test_check_rejects_a_target_file_without_obsgen_labels():
    files = {"prometheus/prometheus.yml": "", "prometheus/targets/http.json": ""}
    parsed = {
        "prometheus/prometheus.yml": {
            "global": {},
            "rule_files": [],
            "alerting": {},
            "scrape_configs": [],
        },
        "prometheus/targets/http.json": [{"targets": ["a:1"], "labels": {"env": "x"}}],
    }
    with pytest.raises(
        RenderError, match=r"targets/http.json: a:1 lacks service, team"
    ):
        prometheus.check(files, parsed)


def test_check_rejects_a_job_name_used_twice():
    files = {"prometheus/prometheus.yml": ""}
    jobs = [{"job_name": "http"}, {"job_name": "http"}]
    parsed = {
        "prometheus/prometheus.yml": {
            "global": {},
            "rule_files": [],
            "alerting": {},
            "scrape_configs": jobs,
        }
    }
    with pytest.raises(RenderError, match="job_name 'http' appears twice"):
        prometheus.check(files, parsed)
