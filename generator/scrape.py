"""Scrape jobs: what Prometheus scrapes, and the labels each target carries.

Scrape jobs are one per kind, not one per service. At 10,000 services a job per
service means 10,000 scrape configs, and with Consul as many catalog watches
and relabelling passes; a job per kind keeps the config to a handful of jobs
whatever the fleet's size, while every target still carries its own `service`,
`team`, `env` and `kind` labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from generator.inventory import Inventory, Service

# obsgen's own jobs carry a '-', which kinds cannot, so no pack can clash with them.
SELF_JOB = "prometheus-self"
PROBE_JOB = "health-probe"
BLACKBOX_ADDRESS = "blackbox-exporter:9115"
GRAFANA_ADDRESS = "grafana:3000"
PROBE_MODULE = "http_2xx"
# The `kind` label of the stack's own targets (the inventory's RESERVED_KINDS).
SELF_KIND = "prometheus"
STACK_KIND = "stack"

# Comments above the static targets of a job when the stack discovers through Consul.
STATIC_UNDER_CONSUL = [
    "Listed here, not found in Consul's catalog: exporters run beside their",
    "service and are not registered, and the Consul server must not be found",
    "through itself, or its target would vanish exactly when it fails.",
]
PROBE_COMMENT = [
    "Health endpoints, probed through the blackbox exporter so that a service",
    "whose health check fails alerts even while its metrics endpoint answers.",
]
PROBES_UNDER_CONSUL = [
    "Listed from the inventory, not the catalog: probes must go on when a",
    "service leaves the catalog.",
]


@dataclass(frozen=True)
class Target:
    """One scraped address and the labels Prometheus attaches to it."""

    address: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Relabel:
    """A `replace` relabelling step (Prometheus' default action); None leaves
    Prometheus' default of the field."""

    target_label: str
    replacement: str | None = None
    source_labels: tuple[str, ...] = ()
    regex: str | None = None


def literal(value: str) -> str:
    """`value` as a relabel replacement that Prometheus writes as it is.

    Prometheus expands `$1`, `${name}` and `$name` in a replacement as Go's
    regexp Expand does, so a `$` in a label value would vanish or take a group's
    value; `$$` is its literal `$`.
    """
    return value.replace("$", "$$")


@dataclass
class Job:
    """A scrape config: static or file_sd targets and, with Consul, a catalog watch."""

    name: str
    metrics_path: str
    params: dict[str, list[str]]
    targets: list[Target] = field(default_factory=list)
    consul_services: list[str] = field(default_factory=list)
    relabel: list[Relabel] = field(default_factory=list)
    # Comment lines above the job, and above its listed targets.
    comment: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def targets_file(self) -> str:
        return f"targets/{self.name}.json"


@dataclass(frozen=True)
class Component:
    """A container of the monitoring stack that Prometheus scrapes and watches.

    Listed statically in every discovery mode: the stack must be watched even
    when the catalog is not there to find it.
    """

    job: str
    address: str
    kind: str
    team: str
    # The alert raised when Prometheus cannot scrape it, and what to call it there.
    down_alert: str | None = None
    title: str = ""
    metrics_path: str = "/metrics"
    # The `service` label; the container's host name when not given.
    name: str | None = None

    @property
    def service(self) -> str:
        return self.name or self.address.rsplit(":", 1)[0]


def stack_components(inventory: Inventory) -> list[Component]:
    """Prometheus itself, then the stack's containers with their down alerts."""
    stack, team = inventory.stack, inventory.owner_team.name
    return [
        Component(
            SELF_JOB,
            "localhost:9090",
            SELF_KIND,
            team,
            None,
            "Prometheus",
            name="prometheus",
        ),
        Component(
            "stack-alertmanager",
            stack.alertmanager.address,
            STACK_KIND,
            team,
            "AlertmanagerDown",
            "Alertmanager",
        ),
        Component(
            "stack-blackbox-exporter",
            BLACKBOX_ADDRESS,
            STACK_KIND,
            team,
            "BlackboxExporterDown",
            "The blackbox exporter",
        ),
        Component(
            "stack-grafana",
            GRAFANA_ADDRESS,
            STACK_KIND,
            team,
            "GrafanaDown",
            "Grafana",
        ),
        Component(
            "stack-alert-gateway",
            stack.gateway.address,
            STACK_KIND,
            team,
            "AlertGatewayDown",
            "The alert gateway",
        ),
    ]


def target_labels(service: Service) -> dict[str, str]:
    """The labels that differ between the targets of a job.

    `env` and `kind` are the same for every target of a kind's job and are set
    once by the job's relabelling: at 10,000 targets, two labels fewer on each
    is a fifth less config for Prometheus (and obsgen's own check) to read.
    """
    labels = {"service": service.name, "team": service.team, **service.labels}
    return dict(sorted(labels.items()))


def _constant_labels(inventory: Inventory, kind: str | None) -> list[Relabel]:
    steps = [Relabel("env", literal(inventory.stack.environment))]
    if kind is not None:
        steps.append(Relabel("kind", literal(kind)))
    return steps


def kind_job(inventory: Inventory, kind: str) -> Job:
    services = inventory.services_of(kind)
    pack = inventory.packs[kind]
    job = Job(kind, pack.meta.scrape.path, dict(pack.meta.scrape.params))
    job.relabel = _constant_labels(inventory, kind)

    discovered = [s for s in services if _through_consul(inventory, s)]
    discovered_names = {service.name for service in discovered}
    for service in services:
        if service.name in discovered_names:
            continue
        host, port = inventory.metrics_target(service)
        labels = target_labels(service)
        path = inventory.metrics_path(service)
        if path != job.metrics_path:
            labels["__metrics_path__"] = path
        job.targets.append(Target(f"{host}:{port}", labels))

    if inventory.stack.discovery == "consul" and job.targets:
        job.notes = STATIC_UNDER_CONSUL
    if discovered:
        job.consul_services = [service.name for service in discovered]
        job.relabel += _consul_relabel(inventory, discovered, job.metrics_path)
    return job


def _through_consul(inventory: Inventory, service: Service) -> bool:
    """Whether Prometheus finds `service` in Consul's catalog.

    Exporters are containers obsgen runs beside their service, not entries in
    the catalog, so they are listed statically. So is the Consul server the
    stack discovers through: found through itself, it would vanish from the
    targets exactly when it fails, and `up == 0` would never fire.
    """
    if inventory.stack.discovery != "consul":
        return False
    if inventory.pack(service).meta.exporter is not None:
        return False
    return f"{service.host}:{service.port}" != inventory.stack.consul.server


def _consul_relabel(
    inventory: Inventory, services: list[Service], default_path: str
) -> list[Relabel]:
    """Label Consul's targets as the inventory says, one step per distinct value.

    Steps match service names with one regex per team, label value, port and
    path, so their number follows the variety of the inventory, not its size.
    """
    name = ("__meta_consul_service",)
    steps = [Relabel("service", None, name)]

    by_value: dict[tuple[str, str], list[str]] = defaultdict(list)
    for service in services:
        by_value[("team", service.team)].append(service.name)
        for label, value in service.labels.items():
            by_value[(label, value)].append(service.name)
        path = inventory.metrics_path(service)
        if path != default_path:
            by_value[("__metrics_path__", path)].append(service.name)
    for (label, value), names in sorted(by_value.items()):
        steps.append(Relabel(label, literal(value), name, alternatives(names)))

    # Consul knows the service's own port; the metrics may be served on another.
    by_port: dict[int, list[str]] = defaultdict(list)
    for service in services:
        _, port = inventory.metrics_target(service)
        if port != service.port:
            by_port[port].append(service.name)
    for port, names in sorted(by_port.items()):
        regex = f"(?:{alternatives(names)});(.+):[0-9]+"
        sources = ("__meta_consul_service", "__address__")
        steps.append(Relabel("__address__", f"${{1}}:{port}", sources, regex))
    return steps


def alternatives(names: Iterable[str]) -> str:
    # Service names are [a-z0-9-] only, so they need no regex escaping.
    return "|".join(sorted(names))


def probe_job(inventory: Inventory) -> Job:
    """Blackbox probes of every health endpoint, listed from the inventory in every
    discovery mode: a probe must go on when the service leaves the catalog."""
    job = Job(PROBE_JOB, "/probe", {"module": [PROBE_MODULE]})
    job.comment = PROBE_COMMENT
    for service in inventory.services:
        labels = {**target_labels(service), "kind": service.kind}
        for path in inventory.health_paths(service):
            url = f"http://{service.host}:{service.port}{path}"
            job.targets.append(
                Target(url, dict(sorted({**labels, "endpoint": path}.items())))
            )

    if inventory.stack.discovery == "consul":
        job.notes = PROBES_UNDER_CONSUL
    # The target is the probed URL; the scrape goes to the blackbox exporter.
    job.relabel = [
        *_constant_labels(inventory, None),
        Relabel("__param_target", None, ("__address__",)),
        Relabel("instance", None, ("__param_target",)),
        Relabel("__address__", literal(BLACKBOX_ADDRESS)),
    ]
    return job
