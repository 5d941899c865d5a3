"""The compose file: accepted by docker-compose, pinned, checked, and secret-free."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import compose
from generator.errors import RenderError
from generator.inventory import Inventory, exporter_name
from generator.render import parse_back
from tests.generator.conftest import CARDEALER, ROOT, needs
from tests.generator.test_alertmanager import SMALL, broken, render_tree

SECRET_VALUES = {
    "ALERT_GATEWAY_TOKEN": "gw-token-5f1c9a7e",
    "SLACK_BOT_TOKEN": "xoxb-111-222-abcdefghijkl",
    "SLACK_SIGNING_SECRET": "signing-0d9e8f7a6b",
    "GF_SECURITY_ADMIN_PASSWORD": "grafana-pw-77c3",
    "PGPASSWORD": "pg-pw-31f2",
}
SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[0-9A-Za-z-]+"),
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"^\s*(password|token|secret|credentials)\s*:\s*\S", re.I | re.M),
]


@pytest.fixture(scope="module", params=[CARDEALER, SMALL], ids=["cardealer", "small"])
def rendered(request, tmp_path_factory) -> tuple[Inventory, Path, dict]:
    """A rendered tree in `<tmp>/stack`, with its secret files in `<tmp>/secrets`
    where the compose file expects them."""
    base = tmp_path_factory.mktemp("compose")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRET_VALUES.items():
            patch.setenv(name, value)
        inventory, files = render_tree(request.param, base / "stack")

    document = parse_back(compose.PATH, files[compose.PATH])
    (base / "secrets").mkdir()
    for secret in document["secrets"].values():
        path = (base / "stack" / "compose" / secret["file"]).resolve()
        path.write_text("not-a-real-secret\n")
    return inventory, base / "stack", document


def docker_compose(stack: Path, *args: str) -> subprocess.CompletedProcess:
    compose_file = stack / compose.PATH
    environment = {**os.environ, "OBSGEN_DIR": str(ROOT)}
    environment.pop("GATEWAY_CONFIG", None)
    return subprocess.run(
        [needs("docker-compose"), "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=compose_file.parent,
    )


def test_docker_compose_accepts_the_file(rendered):
    _, stack, _ = rendered

    result = docker_compose(stack, "config", "-q")

    assert result.returncode == 0, result.stderr


def test_relative_paths_resolve_inside_the_rendered_tree(rendered):
    inventory, stack, _ = rendered
    result = docker_compose(stack, "config")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)

    for secret in resolved["secrets"].values():
        assert Path(secret["file"]).is_file(), secret
    # docker-compose 1.x prints volumes as source:target:mode, binds absolute.
    sources = [
        volume.split(":", 1)[0]
        for service in resolved["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("/")
    ]
    assert sources
    for source in sources:
        assert Path(source).resolve().is_relative_to(stack.resolve()), source
        assert Path(source).exists(), source
    gateway_host = inventory.stack.gateway.address.split(":")[0]
    gateway_build = resolved["services"][gateway_host]["build"]
    assert Path(gateway_build["context"]) == ROOT
    assert (ROOT / gateway_build["dockerfile"]).parent.is_dir()


def test_a_missing_obsgen_source_folder_is_reported(rendered, tmp_path):
    _, stack, _ = rendered
    compose_file = stack / compose.PATH
    environment = {**os.environ, "OBSGEN_DIR": str(tmp_path / "absent")}

    result = subprocess.run(
        [needs("docker-compose"), "-f", str(compose_file), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )

    assert result.returncode != 0
    assert "absent" in result.stderr


def header(text: str) -> list[str]:
    """The comment lines a compose file opens with, without their `#`."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return lines


def test_a_user_who_follows_the_header_gets_a_valid_file(tmp_path):
    render_tree(SMALL, tmp_path / "stack")
    compose_file = tmp_path / "stack" / compose.PATH
    lines = header(compose_file.read_text())
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("OBSGEN_DIR", "GATEWAY_CONFIG")
    }

    def config() -> subprocess.CompletedProcess:
        command = [needs("docker-compose"), "-f", str(compose_file), "config", "-q"]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=120, env=environment
        )

    # Every file the header lists, created where it says.
    for line in lines:
        if line.startswith(f"{compose.SECRETS_DIR}/"):
            (compose_file.parent / line).resolve().parent.mkdir(exist_ok=True)
            (compose_file.parent / line).resolve().write_text("not-a-real-secret\n")
    assert config().returncode != 0

    # Every variable it says to export, set as it describes them.
    exports = [line.removeprefix("export ") for line in lines if "export " in line]
    assert [line.split("=")[0] for line in exports] == ["OBSGEN_DIR"]
    assert "the one that holds" in " ".join(lines)
    assert "alert_gateway/Dockerfile" in " ".join(lines)
    environment["OBSGEN_DIR"] = str(ROOT)
    result = config()
    assert result.returncode == 0, result.stderr

    # And the line that keeps the secrets out of version control.
    ignore = lines[lines.index("folder that holds it and the rendered folder.") + 1]
    assert ignore == "secrets/"
    assert any("Never commit the secrets folder" in line for line in lines)


def test_every_exporter_the_inventory_needs_is_a_service(rendered):
    inventory, _, document = rendered
    needed = {
        exporter_name(service)
        for service in inventory.services
        if inventory.pack(service).meta.exporter is not None
    }
    kinds_with_exporter = {"postgres", "redis"} & set(inventory.kinds())

    assert kinds_with_exporter
    assert needed <= document["services"].keys()
    for service in inventory.services:
        exporter = inventory.pack(service).meta.exporter
        if exporter is not None:
            body = document["services"][exporter_name(service)]
            assert body["image"] == exporter.image


def test_postgres_exporters_read_their_password_from_a_secret(rendered):
    inventory, _, document = rendered

    for service in inventory.services_of("postgres"):
        body = document["services"][exporter_name(service)]
        environment = body["environment"]
        secret = environment["DATA_SOURCE_PASS_FILE"].removeprefix("/run/secrets/")
        assert secret in body["secrets"]
        assert secret in document["secrets"]
        assert environment["DATA_SOURCE_URI"].startswith(
            f"{service.host}:{service.port}/"
        )
        assert not any("PASSWORD" in key and "FILE" not in key for key in environment)


def test_redis_exporters_reach_their_server(rendered):
    inventory, _, document = rendered

    for service in inventory.services_of("redis"):
        body = document["services"][exporter_name(service)]
        assert body["environment"]["REDIS_ADDR"] == (
            f"redis://{service.host}:{service.port}"
        )
        assert body["environment"]["REDIS_PASSWORD_FILE"].startswith("/run/secrets/")


def test_every_image_is_pinned(rendered):
    _, _, document = rendered

    for name, service in document["services"].items():
        image = service["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag, name
        assert tag != "latest", name


def test_every_container_has_a_health_check_or_says_why_not(rendered):
    _, stack, document = rendered
    text = (stack / compose.PATH).read_text()

    for name, service in document["services"].items():
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert test[0] == "CMD", name
            assert len(test) > 1, name
            continue
        section = text.split(f"\n  {name}:\n", 1)[1].split("\n\n", 1)[0]
        assert "# No health check:" in section, name


def test_stack_services_are_configured_from_the_inventory(rendered):
    inventory, _, document = rendered
    services = document["services"]
    alertmanager_host = inventory.stack.alertmanager.address.split(":")[0]

    prometheus = services["prometheus"]
    assert (
        f"--storage.tsdb.retention.time={inventory.stack.retention}"
        in (prometheus["command"])
    )
    assert "../prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    alertmanager_command = services[alertmanager_host]["command"]
    assert (
        f"--web.external-url={inventory.stack.alertmanager.external_url}"
        in alertmanager_command
    )
    assert "--cluster.listen-address=" in alertmanager_command
    assert "../prometheus/blackbox.yml" in " ".join(
        services["blackbox-exporter"]["volumes"]
    )


def test_grafana_reads_its_admin_password_from_a_secret(rendered):
    _, _, document = rendered
    grafana = document["services"]["grafana"]

    path = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    assert path == f"/run/secrets/{grafana['secrets'][0]}"
    assert any(v.startswith("../grafana/provisioning:") for v in grafana["volumes"])
    assert any(v.startswith("../grafana/dashboards:") for v in grafana["volumes"])


def test_jaeger_and_seq_expose_their_ports(rendered):
    _, _, document = rendered
    jaeger = document["services"]["jaeger"]
    seq = document["services"]["seq"]

    published = {port.rsplit(":", 1)[1] for port in jaeger["ports"]}
    assert {"16686", "4317", "4318"} <= published
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert seq["environment"]["ACCEPT_EULA"] == "Y"
    assert "seq-data:/data" in seq["volumes"]
    assert any(port.endswith(":5341") for port in seq["ports"])


def test_all_containers_share_one_network_and_restart(rendered):
    inventory, _, document = rendered

    assert list(document["networks"]) == [inventory.stack.name]
    for name, service in document["services"].items():
        assert service["networks"] == [inventory.stack.name], name
        assert service["restart"] == "unless-stopped", name


def test_secrets_are_files_outside_the_rendered_folder(rendered):
    _, _, document = rendered

    for name, secret in document["secrets"].items():
        assert secret["file"] == f"../../secrets/{name}"


def scan_for_secrets(folder: Path, values: list[str]) -> list[str]:
    """Every place under `folder` holding a known secret or something shaped
    like one."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text()
        found += [f"{path}: {value}" for value in values if value in text]
        found += [f"{path}: {p.pattern}" for p in SECRET_PATTERNS if p.search(text)]
    return found


def test_no_rendered_file_holds_a_secret(rendered):
    _, stack, _ = rendered

    assert scan_for_secrets(stack, list(SECRET_VALUES.values())) == []


def test_the_secret_scan_finds_a_planted_secret(tmp_path):
    planted = tmp_path / "planted.yml"
    planted.write_text(f"slack:\n  token: {SECRET_VALUES['SLACK_BOT_TOKEN']}\n")

    assert len(scan_for_secrets(tmp_path, list(SECRET_VALUES.values()))) == 3


def test_a_new_kind_with_an_exporter_needs_only_a_folder(tmp_path):
    user = tmp_path / "templates"
    pack = user / "rules" / "memcached"
    pack.mkdir(parents=True)
    (pack / "pack.yml").write_text(
        "kind: memcached\ntitle: Memcached\n"
        "exporter:\n  image: prom/memcached-exporter:v0.14.4\n  port: 9150\n"
        "  command: ['--memcached.address=sessions-cache:11211']\n"
    )
    inventory_file = tmp_path / "inventory.yaml"
    inventory_file.write_text(
        SMALL.read_text()
        + "  - name: sessions-cache\n    kind: memcached\n"
        + "    team: storefront\n    port: 11211\n"
    )

    # Only this target: the others ask a pack for more than an exporter.
    _, files = render_tree(inventory_file, tmp_path / "stack", user, [compose])

    document = parse_back(compose.PATH, files[compose.PATH])
    exporter = document["services"]["sessions-cache-exporter"]
    assert exporter["image"] == "prom/memcached-exporter:v0.14.4"
    assert exporter["command"] == ["--memcached.address=sessions-cache:11211"]
    assert "sessions-cache-exporter-secret" not in document["secrets"]
    assert "# No health check:" in files[compose.PATH]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["services"]["seq"].update(image="datalust/seq"), "pinned"),
        (lambda d: d["services"]["seq"].update(image="datalust/seq:latest"), "pinned"),
        (lambda d: d["services"]["grafana"]["secrets"].append("ghost"), "declared"),
        (lambda d: d["services"]["seq"]["volumes"].append("logs:/x"), "declared"),
        (lambda d: d["services"]["seq"]["networks"].append("other"), "declared"),
        (lambda d: d["services"]["grafana"]["depends_on"].append("x"), "no service"),
        (
            lambda d: d["services"]["grafana"]["environment"].update(
                GF_SECURITY_ADMIN_PASSWORD="admin"
            ),
            "file reference",
        ),
        (
            lambda d: d["services"]["prometheus"]["command"].append(
                "--url=http://user:pw@host"
            ),
            "file reference",
        ),
    ],
    ids=[
        "untagged",
        "latest",
        "secret",
        "volume",
        "network",
        "depends-on",
        "password",
        "url-password",
    ],
)
def test_check_rejects_a_broken_compose_file(rendered, change, message):
    _, _, document = rendered

    with pytest.raises(RenderError, match=message):
        compose.check({}, {compose.PATH: broken(document, change)})


def mount_targets(service: dict) -> set[str]:
    return {volume.split(":")[1] for volume in service.get("volumes", [])}


def test_grafana_mounts_the_folder_its_dashboard_provider_reads(rendered):
    _, stack, document = rendered
    providers = [
        provider
        for path in sorted((stack / "grafana/provisioning/dashboards").glob("*.yml"))
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]

    assert providers
    for provider in providers:
        assert provider["options"]["path"] in mount_targets(
            document["services"]["grafana"]
        )


def test_other_files_reach_the_stack_by_its_compose_names(rendered):
    _, stack, document = rendered
    services = document["services"]
    prometheus = yaml.safe_load((stack / "prometheus/prometheus.yml").read_text())
    datasources = [
        source
        for path in sorted((stack / "grafana/provisioning/datasources").glob("*.yml"))
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]

    for alertmanagers in prometheus["alerting"]["alertmanagers"]:
        for target in alertmanagers["static_configs"][0]["targets"]:
            host, port = target.split(":")
            assert f"--web.listen-address=:{port}" in services[host]["command"]
    for source in datasources:
        host = source["url"].split("//", 1)[1].split(":")[0]
        assert host in services, source["url"]
    probes = re.findall(r"\b([a-z][a-z0-9-]*):9115\b", str(prometheus))
    assert probes
    assert set(probes) <= services.keys()


def test_an_alpine_redis_exporter_gets_a_health_check(tmp_path):
    user = tmp_path / "templates"
    shutil.copytree(ROOT / "rules" / "redis", user / "rules" / "redis")
    pack = user / "rules" / "redis" / "pack.yml"
    pack.write_text(
        re.sub(r"(image: \S+?)(-alpine)?\n", r"\1-alpine\n", pack.read_text(), count=1)
    )

    _, files = render_tree(SMALL, tmp_path / "stack", user, [compose])

    exporter = parse_back(compose.PATH, files[compose.PATH])["services"][
        "sessions-exporter"
    ]
    assert exporter["image"].endswith("-alpine")
    assert exporter["healthcheck"]["test"][:2] == ["CMD", "wget"]


def test_an_exporter_named_like_a_stack_container_is_refused(tmp_path):
    inventory_file = tmp_path / "inventory.yaml"
    inventory_file.write_text(
        SMALL.read_text()
        + "  - name: blackbox\n    kind: redis\n    team: payments\n    port: 6390\n"
    )

    with pytest.raises(RenderError, match="'blackbox-exporter', like a container"):
        render_tree(inventory_file, tmp_path / "stack", targets=[compose])
