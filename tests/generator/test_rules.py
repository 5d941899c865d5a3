"""Rule files: accepted by promtool, alerting when and only when they should, with
per-service thresholds, and open to new kinds added as a folder."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from generator import prometheus
from generator.errors import RenderError
from generator.render import parse_back
from tests.generator.conftest import CARDEALER, INVENTORIES, run_obsgen
from tests.generator.test_prometheus import CONSUL, STATIC, promtool, render_tree

UNIT_TESTS = Path(__file__).resolve().parent / "prom_http_rules_test.yml"
STACK_UNIT_TESTS = Path(__file__).resolve().parent / "prom_stack_rules_test.yml"
KINDS = ("consul", "http", "postgres", "rabbitmq", "redis")
# Every stack has the rules about itself beside its kinds'.
RULE_FILES = (*KINDS, "stack")


def alerts(files: dict[str, str], kind: str, name: str) -> list[dict]:
    document = parse_back(
        f"prometheus/rules/{kind}.yml", files[f"prometheus/rules/{kind}.yml"]
    )
    return [
        rule
        for group in document["groups"]
        for rule in group["rules"]
        if rule.get("alert") == name
    ]


@pytest.mark.parametrize(
    "inventory", [CARDEALER, STATIC, CONSUL], ids=["cardealer", "static", "consul"]
)
def test_promtool_accepts_every_rule_file_without_lint_findings(inventory, tmp_path):
    _, files = render_tree(inventory, tmp_path)
    rule_files = sorted(path for path in files if path.startswith("prometheus/rules/"))
    assert [Path(path).stem for path in rule_files] == sorted(RULE_FILES)

    result = promtool("check", "rules", "--lint-fatal", *rule_files, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def run_unit_tests(inventory: Path, tmp_path: Path, unit_tests: Path = UNIT_TESTS):
    render_tree(inventory, tmp_path)
    # The unit-test file names `rules/<file>.yml` relative to itself.
    shutil.copy(unit_tests, tmp_path / "prometheus" / unit_tests.name)
    return promtool("test", "rules", unit_tests.name, cwd=tmp_path / "prometheus")


def test_watchdog_always_fires_and_a_stack_component_down_fires_after_2m(tmp_path):
    result = run_unit_tests(STATIC, tmp_path, STACK_UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_stack_alert_is_owned_linked_and_watches_a_scraped_job(tmp_path):
    inventory, files = render_tree(CARDEALER, tmp_path)
    document = parse_back(prometheus.STACK_RULES, files[prometheus.STACK_RULES])
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    config = parse_back(prometheus.CONFIG, files[prometheus.CONFIG])
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    owner = sorted(inventory.teams)[0]

    names = [rule["alert"] for rule in rules]
    assert names[0] == "Watchdog" and rules[0]["labels"]["severity"] == "info"
    for down in ("Alertmanager", "BlackboxExporter", "Grafana", "AlertGateway"):
        (rule,) = [rule for rule in rules if rule["alert"] == f"{down}Down"]
        assert rule["for"] == "2m" and rule["labels"]["severity"] == "critical"
        job = re.fullmatch(r'up\{job="([a-z-]+)"\} == 0', rule["expr"]).group(1)
        assert job in jobs
    for rule in rules:
        assert rule["labels"]["team"] == owner
        assert rule["annotations"]["dashboard_url"] == (
            "http://localhost:3000/d/cardealer-overview"
        )
        assert f"docs/runbooks/{rule['alert']}.md" in files
        for job in re.findall(r'job="([a-z-]+)"', rule["expr"]):
            assert job in jobs, (rule["alert"], job)
    assert "alert_gateway_notifications_dead_lettered_total" in str(rules)
    for metric in (
        "prometheus_rule_evaluation_failures_total",
        "prometheus_notifications_errors_total",
        "alertmanager_notifications_failed_total",
    ):
        assert metric in str(rules)


def test_a_pack_may_not_take_the_kind_of_the_stacks_own_targets(tmp_path):
    result = render_one_service_of_a_user_pack(tmp_path, "stack")

    assert result.exit_code == 2
    assert "kind: kind 'stack' is kept for the monitoring stack's own targets" in (
        result.output
    )


def test_http_alerts_fire_with_their_labels_at_the_right_time(tmp_path):
    result = run_unit_tests(STATIC, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_unit_tests_fail_when_the_gateway_override_is_lost(tmp_path):
    # The same expectations against rules rendered without gateway's 0.5s
    # threshold must fail: the unit tests really depend on the override.
    document = yaml.safe_load(STATIC.read_text())
    for service in document["services"]:
        service.pop("thresholds", None)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document))

    result = run_unit_tests(inventory, tmp_path / "out")

    assert result.returncode != 0
    assert "HighLatency" in result.stdout + result.stderr


def test_overridden_services_get_their_own_rule_and_leave_the_shared_one(tmp_path):
    _, files = render_tree(STATIC, tmp_path)
    latency = alerts(files, "http", "HighLatency")

    assert [rule["expr"] for rule in latency] == [
        'service:http_request_duration_seconds:p95_rate5m{job="http", '
        'service!~"gateway"} > 1',
        'service:http_request_duration_seconds:p95_rate5m{job="http", '
        'service="gateway"} > 0.5',
    ]
    assert latency[1]["labels"]["service"] == "gateway"
    assert latency[1]["labels"]["team"] == "platform"
    errors = alerts(files, "http", "HighErrorRate")
    assert [(rule["expr"].split("{")[1], rule["for"]) for rule in errors] == [
        ('job="http", service!~"search"} > 0.05', "5m"),
        ('job="http", service="search"} > 0.2', "10m"),
    ]
    # An alert no service overrides is a single rule for the whole kind.
    assert [rule["expr"] for rule in alerts(files, "http", "ServiceDown")] == [
        'up{job="http"} == 0'
    ]
    connections = alerts(files, "postgres", "PostgresTooManyConnections")
    assert [rule["expr"].rsplit(" ", 1)[1] for rule in connections] == ["0.9"]


def test_inventory_defaults_set_the_shared_rule_threshold(tmp_path):
    _, files = render_tree(CONSUL, tmp_path)
    latency = alerts(files, "http", "HighLatency")

    assert [rule["expr"].split("} ")[1] for rule in latency] == ["> 2", "> 0.5"]
    assert 'service!~"search"' in latency[0]["expr"]


def test_rule_count_follows_overrides_not_services(tmp_path):
    services = [
        {
            "name": f"svc-{index:05d}",
            "kind": "http",
            "team": "web",
            "port": 10000 + index,
        }
        for index in range(3000)
    ]
    services[7]["thresholds"] = {"latency_p95_seconds": 2}
    services[8]["thresholds"] = {"latency_p95_seconds": 2}
    document = {
        "stack": {"name": "big", "environment": "prod"},
        "teams": [{"name": "web", "slack_channel": "#web"}],
        "services": services,
    }
    inventory = tmp_path / "big.yaml"
    inventory.write_text(yaml.safe_dump(document))

    _, files = render_tree(inventory, tmp_path / "out")

    latency = alerts(files, "http", "HighLatency")
    assert len(latency) == 3
    assert 'service!~"svc-00007|svc-00008"' in latency[0]["expr"]
    assert len(alerts(files, "http", "ServiceDown")) == 1
    config = parse_back(prometheus.CONFIG, files[prometheus.CONFIG])
    # http, its health probes, Prometheus itself and the stack's four containers.
    assert len(config["scrape_configs"]) == 7


def test_every_alert_links_its_runbook_and_dashboard(tmp_path):
    inventory, files = render_tree(CARDEALER, tmp_path)
    base = inventory.stack.runbook_base_url
    for kind in KINDS:
        document = parse_back(
            f"prometheus/rules/{kind}.yml", files[f"prometheus/rules/{kind}.yml"]
        )
        for group in document["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                annotations = rule["annotations"]
                assert annotations["runbook_url"] == f"{base}/{rule['alert']}.md"
                assert f"docs/runbooks/{rule['alert']}.md" in files
                assert annotations["dashboard_url"].startswith(
                    "http://localhost:3000/d/cardealer-"
                )
                assert rule["labels"]["severity"] in ("critical", "warning")

    gateway = alerts(files, "http", "HighLatency")[1]
    assert gateway["annotations"]["dashboard_url"].endswith(
        "/d/cardealer-service-gateway"
    )
    postgres = alerts(files, "postgres", "PostgresDown")[0]
    assert postgres["annotations"]["dashboard_url"].endswith(
        "/d/cardealer-infrastructure?var-service={{ $labels.service }}"
    )


GOOD_ALERT = {
    "alert": "Broken",
    "expr": "up == 0",
    "for": "1m",
    "labels": {"severity": "critical", "team": "t", "service": "s"},
    "annotations": {
        "summary": "s",
        "description": "d",
        "runbook_url": "r",
        "dashboard_url": "u",
    },
}


def check_groups(*groups: dict) -> None:
    """Run the target's check on a config and one rule file holding `groups`."""
    files = {prometheus.CONFIG: "", "prometheus/rules/x.yml": ""}
    config = {"global": {}, "rule_files": [], "alerting": {}, "scrape_configs": []}
    parsed = {
        prometheus.CONFIG: config,
        "prometheus/rules/x.yml": {"groups": list(groups)},
    }
    prometheus.check(files, parsed)


def test_check_accepts_a_complete_alert():
    check_groups({"name": "x-alerts", "rules": [GOOD_ALERT]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"expr": "sum(rate(x[5m])"}, "expr does not parse"),
        ({"labels": {"severity": "critical", "service": "s"}}, "missing team"),
        ({"annotations": {"summary": "s", "description": "d"}}, "missing runbook_url"),
        ({"labels": {"severity": "page", "team": "t", "service": "s"}}, "severity"),
        ({"for": "soon"}, "'for' is not a duration"),
    ],
)
def test_check_rejects_an_incomplete_alert(change, message):
    with pytest.raises(RenderError, match=message):
        check_groups({"name": "x-alerts", "rules": [{**GOOD_ALERT, **change}]})


def test_check_accepts_the_template_actions_prometheus_knows():
    annotations = {
        **GOOD_ALERT["annotations"],
        "summary": "{{ $labels.service }}: {{ $value | humanizePercentage }}",
        "description": '{{- /* note */ -}}{{ if gt $value 1.0 }}{{ "{{" }}{{ end }}',
        "dashboard_url": "http://g/d/x?var-service={{ $labels.service }}",
    }
    labels = {**GOOD_ALERT["labels"], "service": "{{ .Labels.service }}"}
    alert = {**GOOD_ALERT, "annotations": annotations, "labels": labels}
    check_groups({"name": "x-alerts", "rules": [alert]})


@pytest.mark.parametrize(
    ("section", "name", "value", "message"),
    [
        (
            "annotations",
            "runbook_url",
            "https://wiki/{{team}}/Broken.md",
            r"annotation runbook_url: `\{\{ team \}\}`: 'team' is not a template "
            "function",
        ),
        (
            "annotations",
            "dashboard_url",
            "https://grafana/d/x?a={{ $labels.service }",
            "annotation dashboard_url: a template action `{{` is never closed",
        ),
        ("labels", "team", "ops}}", "label team: `}}` closes no template action"),
        ("labels", "service", "{{ labels.service }}", "label service: `{{ labels"),
    ],
)
def test_check_rejects_a_value_prometheus_would_not_expand(
    section, name, value, message
):
    alert = {**GOOD_ALERT, section: {**GOOD_ALERT[section], name: value}}
    where = r"prometheus/rules/x.yml: group 'x-alerts' rule 0 \(Broken\): "
    with pytest.raises(RenderError, match=where + message):
        check_groups({"name": "x-alerts", "rules": [alert]})


def test_a_pack_writing_a_bad_template_action_fails_at_render(tmp_path):
    result = render_one_service_of_a_user_pack(
        tmp_path,
        "memcached",
        lambda text: text.replace('summary="{{ $labels', 'summary="{{ labels'),
    )

    assert result.exit_code == 1
    assert "prometheus/rules/memcached.yml: group 'memcached-alerts' rule 0" in (
        result.output
    )
    assert (
        "annotation summary: `{{ labels.service }}`: 'labels' is not" in result.output
    )
    assert not (tmp_path / "out").exists()


def test_check_rejects_two_groups_of_the_same_name():
    group = {"name": "x-alerts", "rules": [GOOD_ALERT]}
    with pytest.raises(RenderError, match="group 'x-alerts' also in"):
        check_groups(group, group)


MEMCACHED_PACK = {
    "pack.yml": """\
        kind: memcached
        title: Memcached
        exporter:
          image: quay.io/prometheus/memcached-exporter:v0.14.4
          port: 9150
        thresholds:
          down_for: 2m
        """,
    "alerts.yml.j2": """\
        {{ banner }}
        groups:
          - name: memcached-alerts
            rules:
        {% for scope in scopes("down_for") %}
              - alert: MemcachedDown
                expr: memcached_up{{ scope.select(job=job) }} == 0
                for: {{ scope.down_for }}
        {{ alert_meta("MemcachedDown", scope, "critical",
            summary="{{ $labels.service }} is down",
            description="memcached_exporter cannot reach {{ $labels.service }}.") }}
        {% endfor %}
        """,
    "runbooks.yml": """\
        MemcachedDown:
          title: Memcached is unreachable
          meaning: The exporter cannot reach Memcached.
          confirm:
            - query: 'memcached_up{service="<service>"}'
              shows: 0 while it is unreachable.
          first_steps: [Check the container.]
          escalation: Page the owning team.
        """,
}


def test_a_pack_for_a_new_kind_in_the_templates_folder_needs_no_code(tmp_path):
    pack = tmp_path / "templates" / "rules" / "memcached"
    pack.mkdir(parents=True)
    for name, text in MEMCACHED_PACK.items():
        (pack / name).write_text(textwrap.dedent(text))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        (INVENTORIES / "prom_static.yaml").read_text()
        + "  - {name: sessions, kind: memcached, team: platform, port: 11211}\n"
    )
    output = tmp_path / "stack"

    result = run_obsgen(
        "render", inventory, "-o", output, "--templates", tmp_path / "templates"
    )

    assert result.exit_code == 0, result.output
    rules = yaml.safe_load((output / "prometheus/rules/memcached.yml").read_text())
    (rule,) = rules["groups"][0]["rules"]
    assert rule["expr"] == 'memcached_up{job="memcached"} == 0'
    assert rule["for"] == "2m"
    assert rule["annotations"]["runbook_url"] == "docs/runbooks/MemcachedDown.md"
    assert (output / "docs/runbooks/MemcachedDown.md").is_file()
    config = yaml.safe_load((output / prometheus.CONFIG).read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    target = jobs["memcached"]["static_configs"][0]
    assert target["targets"] == ["sessions-exporter:9150"]
    assert target["labels"]["service"] == "sessions"
    check = promtool("check", "config", output / prometheus.CONFIG)
    assert check.returncode == 0, check.stdout + check.stderr


def test_slow_scrapes_widen_the_rate_window_and_its_recording_names(tmp_path):
    document = yaml.safe_load(STATIC.read_text())
    document["stack"]["scrape_interval"] = "2m"
    document["stack"]["scrape_timeout"] = "1m"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document))

    _, files = render_tree(inventory, tmp_path / "out")

    http = files["prometheus/rules/http.yml"]
    assert "[8m]" in http and "[5m]" not in http
    assert "service:http_requests_error_ratio:rate8m{" in http
    result = promtool(
        "check",
        "rules",
        "--lint-fatal",
        "prometheus/rules/http.yml",
        cwd=tmp_path / "out",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def render_one_service_of_a_user_pack(tmp_path: Path, kind: str, change=str):
    """Run `obsgen render` on one service of the Memcached pack, renamed to
    `kind` and its files passed through `change`, from a `--templates` folder."""
    pack = tmp_path / "templates" / "rules" / kind
    pack.mkdir(parents=True)
    for name, text in MEMCACHED_PACK.items():
        text = change(
            text.replace("memcached", kind).replace("Memcached", kind.title())
        )
        (pack / name).write_text(textwrap.dedent(text))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "stack: {name: shop, environment: test}\n"
        "teams: [{name: web, slack_channel: '#web'}]\n"
        f"services: [{{name: sessions, kind: {kind}, team: web, port: 11211}}]\n"
    )
    return run_obsgen(
        "render",
        inventory,
        "-o",
        tmp_path / "out",
        "--templates",
        tmp_path / "templates",
    )


def test_a_pack_asking_for_a_threshold_it_lacks_fails_with_the_template_named(
    tmp_path,
):
    result = render_one_service_of_a_user_pack(
        tmp_path,
        "memcached",
        lambda text: text.replace('scopes("down_for")', 'scopes("down_fro")'),
    )

    assert result.exit_code == 1
    assert (
        "rules/memcached/alerts.yml.j2: unknown threshold 'down_fro'" in result.output
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_zero_for_duration_renders_and_passes_promtool(tmp_path):
    document = yaml.safe_load(CONSUL.read_text())
    document["defaults"]["thresholds"]["down_for"] = "0s"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document))

    _, files = render_tree(inventory, tmp_path / "out")

    assert [rule["for"] for rule in alerts(files, "http", "ServiceDown")] == ["0s"]
    result = promtool(
        "check", "rules", "prometheus/rules/http.yml", cwd=tmp_path / "out"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_named_owner_team_gets_the_stacks_alerts_and_targets(tmp_path):
    document = yaml.safe_load(STATIC.read_text())
    document["stack"]["owner_team"] = "storefront"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document))

    _, files = render_tree(inventory, tmp_path / "out")

    rules = parse_back(prometheus.STACK_RULES, files[prometheus.STACK_RULES])
    teams = {rule["labels"]["team"] for rule in rules["groups"][0]["rules"]}
    assert teams == {"storefront"}
    config = parse_back(prometheus.CONFIG, files[prometheus.CONFIG])
    grafana = [j for j in config["scrape_configs"] if j["job_name"] == "stack-grafana"]
    assert grafana[0]["static_configs"][0]["labels"]["team"] == "storefront"
