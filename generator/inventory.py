"""The service inventory: one YAML file that describes a whole stack.

The models below are the format. `load_inventory` parses a file, checks it
against the models and against the rule packs, and reports every problem at
once, each located at its file, line and column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import promql_parser
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from generator import yamlfile
from generator.errors import InventoryError, Problem
from generator.packs import DURATION_PATTERN, Pack, Threshold, threshold_problem


def _distinct(paths: list[str]) -> list[str]:
    repeated = sorted({path for path in paths if paths.count(path) > 1})
    if repeated:
        raise ValueError(f"{repeated[0]!r} is listed twice")
    return paths


KIND_PATTERN = r"^[a-z][a-z0-9_]*$"
HEALTH_PATH_PATTERN = r"^/[^\s]*$"
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
HOST_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$"
ADDRESS_PATTERN = r"^[A-Za-z0-9.-]+:[0-9]{1,5}$"
# Labels obsgen sets itself on every target; an inventory may not redefine them.
# The `kind` label of the monitoring stack's own targets; dashboards that count
# the inventory's services leave them out, so no pack may take them.
RESERVED_KINDS = frozenset({"prometheus", "stack"})
RESERVED_LABELS = frozenset({"service", "team", "env", "job", "instance", "kind"})

# Braces, quotes and spaces are refused: URLs end up in alert annotations, which
# Prometheus reads as Go templates.
URL_PATTERN = r"^https?://[^\s{}\"'`<>\\]+$"

PATTERN_HELP = {
    NAME_PATTERN: "a name: up to 63 lower-case letters, digits and '-', starting "
    "with a letter",
    HEALTH_PATH_PATTERN: "a path starting with / and without spaces",
    LABEL_NAME_PATTERN: "a Prometheus label name",
    HOST_PATTERN: "a host name",
    ADDRESS_PATTERN: "an address of the form host:port",
    DURATION_PATTERN.pattern: "a duration such as 30s, 5m or 15d",
    URL_PATTERN: "an http or https URL without spaces, quotes or braces",
    r"^#[a-z0-9_-]{1,80}$": "a Slack channel such as #team-alerts",
    r"^/": "a path starting with /",
    KIND_PATTERN: "a kind: lower-case letters, digits and '_', starting with a letter",
}

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN.pattern)]
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN)]
Url = Annotated[str, Field(pattern=URL_PATTERN)]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
HealthPaths = Annotated[
    list[Annotated[str, Field(pattern=HEALTH_PATH_PATTERN)]], AfterValidator(_distinct)
]


class Model(BaseModel):
    """Shared settings: unknown keys are mistakes, and values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Consul(Model):
    """Where Prometheus asks Consul for targets when discovery is `consul`."""

    server: Address = "consul:8500"
    datacenter: str | None = None
    tags: list[str] = Field(default_factory=list)


class Alertmanager(Model):
    """How Prometheus reaches Alertmanager, and the address people open."""

    address: Address = "alertmanager:9093"
    external_url: Url = "http://localhost:9093"


class Gateway(Model):
    """Where Alertmanager posts webhooks for the alert gateway."""

    address: Address = "alert-gateway:9095"


class Grafana(Model):
    """The address people open Grafana at, used in dashboard links of alerts."""

    url: Url = "http://localhost:3000"


class StackSettings(Model):
    """Settings that apply to the whole stack."""

    name: Name
    environment: Name
    discovery: Literal["static", "file_sd", "consul"] = "static"
    scrape_interval: Duration = "15s"
    scrape_timeout: Duration = "10s"
    evaluation_interval: Duration = "15s"
    retention: Duration = "15d"
    consul: Consul = Field(default_factory=Consul)
    alertmanager: Alertmanager = Field(default_factory=Alertmanager)
    gateway: Gateway = Field(default_factory=Gateway)
    grafana: Grafana = Field(default_factory=Grafana)
    runbook_base_url: Url | None = None
    # The team paged about the monitoring stack itself; the first team by name
    # when left out.
    owner_team: Name | None = None


class Team(Model):
    """A team that owns services and is paged for them."""

    name: Name
    slack_channel: Annotated[str, Field(pattern=r"^#[a-z0-9_-]{1,80}$")]
    rotation: Name | None = None


class Service(Model):
    """One thing to monitor: an instrumented application or infrastructure."""

    name: Name
    kind: Annotated[str, Field(pattern=KIND_PATTERN)]
    team: Name
    address: Annotated[str, Field(pattern=HOST_PATTERN)] | None = None
    port: Port
    metrics_port: Port | None = None
    metrics_path: Annotated[str, Field(pattern=r"^/")] | None = None
    health: HealthPaths | None = None
    labels: dict[Annotated[str, Field(pattern=LABEL_NAME_PATTERN)], str] = Field(
        default_factory=dict
    )
    # Checked against the service's pack, which knows each threshold's type.
    thresholds: dict[str, Any] = Field(default_factory=dict)

    @property
    def host(self) -> str:
        """The host name Prometheus and the exporters use; the name by default."""
        return self.address or self.name


class Defaults(Model):
    """Values that apply to every service unless the service says otherwise."""

    # Checked against the service's pack, which knows each threshold's type.
    thresholds: dict[str, Any] = Field(default_factory=dict)
    health: HealthPaths = Field(default_factory=lambda: ["/health"])


class InventoryModel(Model):
    """The whole inventory file."""

    stack: StackSettings
    defaults: Defaults = Field(default_factory=Defaults)
    teams: list[Team] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)


class Inventory:
    """A checked inventory with the packs its services use and values resolved."""

    def __init__(self, model: InventoryModel, packs: dict[str, Pack], source: Path):
        self.model = model
        self.packs = packs
        self.source = source
        self.stack = model.stack
        self.teams = {team.name: team for team in model.teams}
        self.services = sorted(model.services, key=lambda service: service.name)

    @property
    def owner_team(self) -> Team:
        """The team paged about the monitoring stack itself."""
        name = self.stack.owner_team or min(self.teams)
        return self.teams[name]

    def pack(self, service: Service) -> Pack:
        return self.packs[service.kind]

    def kinds(self) -> list[str]:
        """Kinds the inventory uses, in a stable order."""
        return sorted({service.kind for service in self.services})

    def services_of(self, kind: str) -> list[Service]:
        return [service for service in self.services if service.kind == kind]

    def thresholds(self, service: Service) -> dict[str, Threshold]:
        """Pack defaults, then the inventory's defaults, then the service's own."""
        pack = self.pack(service)
        values = dict(pack.meta.thresholds)
        for name, value in self.model.defaults.thresholds.items():
            if name in values:
                values[name] = value
        values.update(service.thresholds)
        return values

    def metrics_target(self, service: Service) -> tuple[str, int]:
        """Host and port Prometheus scrapes for `service`."""
        pack = self.pack(service)
        if service.metrics_port is not None:
            return service.host, service.metrics_port
        if pack.meta.exporter is not None:
            return exporter_name(service), pack.meta.exporter.port
        return service.host, pack.meta.scrape.port or service.port

    def metrics_path(self, service: Service) -> str:
        return service.metrics_path or self.pack(service).meta.scrape.path

    def health_paths(self, service: Service) -> list[str]:
        """Health endpoints probed through the blackbox exporter."""
        if not self.pack(service).meta.health_checks:
            return []
        if service.health is not None:
            return list(service.health)
        return list(self.model.defaults.health)


def exporter_name(service: Service) -> str:
    """The compose service and host name of `service`'s exporter container."""
    return f"{service.name}-exporter"


def load_inventory(path: Path, packs: dict[str, Pack]) -> Inventory:
    """Parse and check the inventory at `path`, reporting every problem at once."""
    located = yamlfile.load(path)
    if not isinstance(located.data, dict):
        raise InventoryError([located.problem((), "expected a mapping at the top")])

    problems = _cross_check(located.data, packs, located)
    try:
        model = InventoryModel.model_validate(located.data)
    except ValidationError as error:
        problems += located.validation_problems(error, PATTERN_HELP)
    if problems:
        raise InventoryError(sorted(set(problems)))
    return Inventory(model, packs, path)


def _cross_check(
    data: Any, packs: dict[str, Pack], located: yamlfile.Located
) -> list[Problem]:
    """Checks that span entries, run on the raw document so they report even when
    the models found problems of their own."""
    problems: list[Problem] = []

    def report(path: tuple[str | int, ...], message: str) -> None:
        problems.append(located.problem(path, message))

    teams = _entries(data, "teams")
    services = _entries(data, "services")
    _check_unique_names("teams", teams, report)
    _check_unique_names("services", services, report)
    _check_unique_ports(services, report)

    team_names = {
        team.get("name") for _, team in teams if isinstance(team.get("name"), str)
    }
    stack = data.get("stack") if isinstance(data.get("stack"), dict) else {}
    interval = _seconds(stack.get("scrape_interval", "15s"))
    timeout = _seconds(stack.get("scrape_timeout", "10s"))
    if interval is not None and timeout is not None and timeout > interval:
        message = "a scrape cannot take longer than scrape_interval"
        report(("stack", "scrape_timeout"), message)
    owner = stack.get("owner_team")
    if isinstance(owner, str) and owner not in team_names:
        report(("stack", "owner_team"), f"team {owner!r} does not exist")
    for index, service in services:
        _check_service(index, service, team_names, packs, report)

    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    thresholds = defaults.get("thresholds")
    for name, value in thresholds.items() if isinstance(thresholds, dict) else ():
        used = [pack for pack in packs.values() if name in pack.meta.thresholds]
        if not used:
            report(("defaults", "thresholds", name), "no rule pack has this threshold")
        elif problem := threshold_problem(used[0], name, value):
            report(("defaults", "thresholds", name), problem)

    return problems


def _seconds(value: Any) -> float | None:
    """A duration in seconds, or None when `value` is not one (reported elsewhere)."""
    if not isinstance(value, str) or not DURATION_PATTERN.match(value):
        return None
    try:
        return promql_parser.parse_duration(value).total_seconds()
    except ValueError:
        return None


def _entries(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(key)
    if not isinstance(items, list):
        return []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]


def _check_service(index, service, team_names, packs, report) -> None:
    here: tuple[str | int, ...] = ("services", index)

    team = service.get("team")
    if isinstance(team, str) and team not in team_names:
        known = ", ".join(sorted(team_names)) or "none"
        report((*here, "team"), f"team {team!r} does not exist (known: {known})")

    labels = service.get("labels")
    for label in labels if isinstance(labels, dict) else ():
        if label in RESERVED_LABELS or label.startswith("__"):
            report((*here, "labels", label), "label is set by obsgen; choose another")

    kind = service.get("kind")
    if not isinstance(kind, str) or not re.match(KIND_PATTERN, kind):
        return
    if kind in RESERVED_KINDS:
        message = f"kind {kind!r} is kept for the monitoring stack's own targets"
        report((*here, "kind"), message)
        return
    pack = packs.get(kind)
    if pack is None:
        known = ", ".join(sorted(packs))
        report((*here, "kind"), f"no rule pack for kind {kind!r} (known: {known})")
        return

    thresholds = service.get("thresholds")
    for name, value in thresholds.items() if isinstance(thresholds, dict) else ():
        if problem := threshold_problem(pack, name, value):
            report((*here, "thresholds", name), problem)


def _check_unique_names(field: str, items, report) -> None:
    seen: set[str] = set()
    for index, item in items:
        name = item.get("name")
        if not isinstance(name, str):
            continue
        if name in seen:
            report((field, index, "name"), f"duplicate name {name!r}")
        seen.add(name)


def _check_unique_ports(services, report) -> None:
    # Two services may share a port only when they live on different hosts; a
    # separate metrics port counts as taken too.
    endpoints: dict[tuple[Any, Any], Any] = {}
    for index, service in services:
        host = service.get("address") or service.get("name")
        if not isinstance(host, str):
            continue
        # Host names are case-insensitive.
        host = host.lower()
        for field in ("port", "metrics_port"):
            port = service.get(field)
            if not isinstance(port, int) or isinstance(port, bool):
                continue
            other = endpoints.get((host, port))
            if other is not None and other != service.get("name"):
                message = f"port {port} on {host!r} is already used by {other!r}"
                report(("services", index, field), message)
            endpoints.setdefault((host, port), service.get("name"))
