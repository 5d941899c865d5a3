"""The compose target: `compose/docker-compose.observability.yml`.

One compose file runs the whole stack: Prometheus, Alertmanager, Grafana,
Jaeger, Seq, the blackbox exporter, the exporter containers the inventory's
kinds ask for (each pack describes its exporter's service in `compose.yml.j2`,
so a new kind needs no code here) and the alert gateway. Secrets are files the
user creates beside the rendered folder; the compose file only names them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jinja2

from generator import __version__
from generator.errors import RenderError
from generator.inventory import exporter_name
from generator.render import Files, RenderContext
from generator.secrets import literal_secrets

log = logging.getLogger(__name__)

PATH = "compose/docker-compose.observability.yml"
TEMPLATE = "compose/docker-compose.observability.yml.j2"
# Relative to the compose file: beside the rendered folder, which obsgen
# replaces as a whole on every render.
SECRETS_FOLDER = "secrets"
SECRETS_DIR = f"../../{SECRETS_FOLDER}"
GATEWAY_CONTEXT = "../../obsgen"
TOKEN_SECRET = "alert_gateway_token"
PACK_FRAGMENT = "compose.yml.j2"
DEFAULT_FRAGMENT = "compose/exporter.yml.j2"

# Containers every stack has, besides Alertmanager and the gateway, which take
# their names from the addresses the inventory gives them.
FIXED_SERVICES = ("prometheus", "grafana", "jaeger", "seq", "blackbox-exporter")

IMAGES = {
    "prometheus": "prom/prometheus:v2.53.2",
    "alertmanager": "prom/alertmanager:v0.27.0",
    "grafana": "grafana/grafana:11.2.2",
    "jaeger": "jaegertracing/all-in-one:1.60.0",
    "seq": "datalust/seq:2024.3",
    "blackbox": "prom/blackbox-exporter:v0.25.0",
}

STACK_SECRETS = {
    TOKEN_SECRET: "the bearer token Alertmanager sends to the alert gateway "
    "(a long random string)",
    "grafana_admin_password": "the password of Grafana's admin user",
    "slack_bot_token": "the Slack bot token (xoxb-...) the gateway posts with",
    "slack_signing_secret": "the Slack app's signing secret, to check button clicks",
}


@dataclass(frozen=True)
class Secret:
    """A file the user creates and compose mounts at /run/secrets/<name>."""

    name: str
    description: str

    @property
    def file(self) -> str:
        return f"{SECRETS_DIR}/{self.name}"


@dataclass(frozen=True)
class Endpoint:
    """A compose service reached by the address the inventory gives for it."""

    name: str
    port: int


@dataclass(frozen=True)
class ExporterContainer:
    """One exporter container: its name and the compose service body its pack
    renders for one service."""

    name: str
    service: str
    kind: str
    body: str


def endpoint(address: str) -> Endpoint:
    host, port = address.rsplit(":", 1)
    return Endpoint(host, int(port))


def exporter_containers(
    context: RenderContext,
) -> tuple[list[ExporterContainer], list[Secret]]:
    """Every exporter the inventory needs, and the secret files they read.

    A pack describes its exporter's compose service in `compose.yml.j2`; a
    pack without one gets a plain service from its `pack.yml`.
    """
    inventory = context.inventory
    containers: list[ExporterContainer] = []
    secrets: list[Secret] = []

    for service in inventory.services:
        pack = inventory.pack(service)
        if pack.meta.exporter is None:
            continue
        name = exporter_name(service)
        secret = f"{name}-secret"
        template = (
            f"{pack.template_prefix}/{PACK_FRAGMENT}"
            if PACK_FRAGMENT in pack.templates
            else DEFAULT_FRAGMENT
        )
        body, secret_help = _render_fragment(
            context,
            template,
            service=service,
            exporter=pack.meta.exporter,
            secret=secret,
            secret_file=f"/run/secrets/{secret}",
        )
        if secret_help:
            secrets.append(Secret(secret, secret_help))
        containers.append(ExporterContainer(name, service.name, service.kind, body))
    return containers, secrets


def _render_fragment(
    context: RenderContext, template: str, **values: Any
) -> tuple[str, str | None]:
    """The fragment's text and the `secret_help` it sets, if it sets one."""
    try:
        module = context.environment.get_template(template).make_module(values)
    except jinja2.TemplateError as error:
        raise RenderError(f"{template}: {error}") from None
    help_text = getattr(module, "secret_help", None)
    return str(module).strip("\n"), help_text


def render(context: RenderContext) -> Files:
    inventory = context.inventory
    alertmanager = endpoint(inventory.stack.alertmanager.address)
    gateway = endpoint(inventory.stack.gateway.address)
    exporters, exporter_secrets = exporter_containers(context)
    _refuse_name_clashes(
        [*FIXED_SERVICES, alertmanager.name, gateway.name],
        exporters,
    )
    secrets = [Secret(name, text) for name, text in STACK_SECRETS.items()]
    secrets = sorted(secrets + exporter_secrets, key=lambda secret: secret.name)

    text = context.render(
        TEMPLATE,
        images=IMAGES,
        alertmanager=alertmanager,
        gateway=gateway,
        exporters=exporters,
        secrets=secrets,
        secrets_dir=SECRETS_DIR,
        secrets_folder=SECRETS_FOLDER,
        token_secret=TOKEN_SECRET,
        gateway_context=GATEWAY_CONTEXT,
        network=inventory.stack.name,
        version=__version__,
    )
    log.debug("rendered path=%s exporters=%d", PATH, len(exporters))
    return {PATH: text}


def _refuse_name_clashes(stack: list[str], exporters: list[ExporterContainer]) -> None:
    # YAML keeps the last of two equal keys without a word, so a clash would
    # silently drop a container.
    owners: dict[str, str] = {}
    for name in stack:
        if name in owners:
            raise RenderError(f"{PATH}: the stack names two containers {name!r}")
        owners[name] = "the stack"
    for exporter in exporters:
        if exporter.name in owners:
            raise RenderError(
                f"{PATH}: the exporter of service {exporter.service!r} would be "
                f"named {exporter.name!r}, like a container of {owners[exporter.name]}"
                "; rename the service"
            )
        owners[exporter.name] = f"service {exporter.service!r}"


def check(files: Files, parsed: dict[str, Any]) -> None:
    document = parsed.get(PATH)
    if document is None:
        return
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise RenderError(f"{PATH}: expected a mapping with `services`")

    declared = {
        "secrets": set(document.get("secrets") or {}),
        "networks": set(document.get("networks") or {}),
        "volumes": set(document.get("volumes") or {}),
        "services": set(document["services"]),
    }
    for name, service in document["services"].items():
        _check_service(name, service, declared)

    problems = literal_secrets(document)
    if problems:
        raise RenderError(f"{PATH}: {problems[0]}: a secret must be a file reference")


def _check_service(
    name: str, service: dict[str, Any], declared: dict[str, set[str]]
) -> None:
    where = f"{PATH}: services.{name}"
    image = str(service.get("image", ""))
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    if not tag or tag == "latest":
        raise RenderError(f"{where}.image: {image!r} is not pinned to a version")

    for field in ("secrets", "networks"):
        for item in service.get(field) or []:
            if item not in declared[field]:
                raise RenderError(f"{where}.{field}: {item!r} is not declared")
    for other in service.get("depends_on") or []:
        if other not in declared["services"]:
            raise RenderError(f"{where}.depends_on: no service {other!r}")
    for volume in service.get("volumes") or []:
        source = str(volume).split(":", 1)[0]
        is_path = source.startswith((".", "/", "${"))
        if not is_path and source not in declared["volumes"]:
            raise RenderError(f"{where}.volumes: {source!r} is not declared")
