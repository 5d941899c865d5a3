"""The prometheus target: prometheus.yml, file_sd targets, blackbox.yml and rules.

Scrape jobs are one per kind, not one per service. At 10,000 services a job per
service means 10,000 scrape configs, and with Consul as many catalog watches
and relabelling passes; a job per kind keeps the config to a handful of jobs
whatever the fleet's size, while every target still carries its own `service`,
`team`, `env` and `kind` labels.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import promql_parser

from generator import links
from generator.errors import RenderError
from generator.inventory import Inventory, Service
from generator.packs import Threshold
from generator.prometheus_check import (
    CONFIG,
    RULES_DIR,
    SEVERITIES,
    check_stack,
)
from generator.render import Files, RenderContext

log = logging.getLogger(__name__)

BLACKBOX_CONFIG = "prometheus/blackbox.yml"

STACK_RULES = f"{RULES_DIR}/stack.yml"
STACK_TEMPLATE = "prometheus/stack.yml.j2"

# obsgen's own jobs carry a '-', which kinds cannot, so no pack can clash with them.
SELF_JOB = "prometheus-self"
PROBE_JOB = "health-probe"
BLACKBOX_ADDRESS = "blackbox-exporter:9115"
GRAFANA_ADDRESS = "grafana:3000"
PROBE_MODULE = "http_2xx"
# The `kind` label of the stack's own targets: dashboards that count the
# inventory's services leave these kinds out, so no pack may take them.
SELF_KIND = "prometheus"
STACK_KIND = "stack"

# Labels every kind's recording rules aggregate by: the ones obsgen sets.
AGGREGATION_LABELS = ("job", "service", "team", "env", "kind")
# `info` is for alerts that notify without calling anyone, such as Watchdog.

# A rate needs a few samples in its window: never less than 5m, and at least
# four scrapes when the inventory scrapes slowly.
MIN_RATE_WINDOW = timedelta(minutes=5)
RATE_WINDOW_SCRAPES = 4

# Alert labels and links of a rule shared by many services, filled in per alert.
SERVICE_LABEL = "{{ $labels.service }}"
TEAM_LABEL = "{{ $labels.team }}"

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


def owner_team(inventory: Inventory) -> str:
    """The team that owns the monitoring stack and gets its alerts.

    The stack settings may name it; otherwise it is the first team by name, a
    stable choice that at least reaches a team the inventory knows.
    """
    named = getattr(inventory.stack, "owner_team", None)
    if named is not None and named not in inventory.teams:
        raise RenderError(f"stack.owner_team: no team named {named!r}")
    return named or sorted(inventory.teams)[0]


def stack_components(inventory: Inventory) -> list[Component]:
    """Prometheus itself, then the stack's containers with their down alerts."""
    stack, team = inventory.stack, owner_team(inventory)
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


def render(context: RenderContext) -> Files:
    inventory = context.inventory
    taken = {SELF_KIND, STACK_KIND} & set(inventory.kinds())
    if taken:
        raise RenderError(
            f"kind {sorted(taken)[0]!r} is the kind of the monitoring stack's own "
            "targets; name the pack differently"
        )
    components = stack_components(inventory)
    jobs = [_kind_job(inventory, kind) for kind in inventory.kinds()]
    jobs.append(_probe_job(inventory))
    file_sd = inventory.stack.discovery == "file_sd"

    files: Files = {
        CONFIG: context.render(
            "prometheus/prometheus.yml.j2",
            jobs=jobs,
            file_sd=file_sd,
            components=components,
        ),
        BLACKBOX_CONFIG: context.render(
            "prometheus/blackbox.yml.j2", probe_module=PROBE_MODULE
        ),
    }
    if file_sd:
        for job in jobs:
            if job.targets:
                files[f"prometheus/{job.targets_file}"] = _file_sd(job.targets)

    for kind in inventory.kinds():
        files[f"{RULES_DIR}/{kind}.yml"] = render_rules(context, kind)
    files[STACK_RULES] = render_stack_rules(context, components)
    log.debug("rendered prometheus jobs=%d", len(jobs) + len(components))
    return files


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


def _kind_job(inventory: Inventory, kind: str) -> Job:
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
        steps.append(Relabel(label, literal(value), name, _alternatives(names)))

    # Consul knows the service's own port; the metrics may be served on another.
    by_port: dict[int, list[str]] = defaultdict(list)
    for service in services:
        _, port = inventory.metrics_target(service)
        if port != service.port:
            by_port[port].append(service.name)
    for port, names in sorted(by_port.items()):
        regex = f"(?:{_alternatives(names)});(.+):[0-9]+"
        sources = ("__meta_consul_service", "__address__")
        steps.append(Relabel("__address__", f"${{1}}:{port}", sources, regex))
    return steps


def _alternatives(names: Iterable[str]) -> str:
    # Service names are [a-z0-9-] only, so they need no regex escaping.
    return "|".join(sorted(names))


def _probe_job(inventory: Inventory) -> Job:
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


def _file_sd(targets: list[Target]) -> str:
    groups = [
        {"labels": target.labels, "targets": [target.address]} for target in targets
    ]
    return json.dumps(groups, indent=2, sort_keys=True) + "\n"


def rate_window(inventory: Inventory) -> str:
    scrape = promql_parser.parse_duration(inventory.stack.scrape_interval)
    return promql_parser.display_duration(
        max(MIN_RATE_WINDOW, scrape * RATE_WINDOW_SCRAPES)
    )


# Rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Services of one kind that share an alert's thresholds, and how to select them.

    The services on the stack's defaults share one rule that excludes the others
    by name; each service with an override gets a rule of its own, with its
    `service` and `team` written out. So the number of rules follows the
    overrides, not the services, and no two rules of an alert carry the same
    labels.
    """

    matcher: str
    values: dict[str, Threshold]
    dashboard_url: str
    service: Service | None = None

    def select(self, **labels: str) -> str:
        """A PromQL selector `{label="value", ..., service...}` for this scope."""
        parts = [f'{name}="{value}"' for name, value in labels.items()]
        if self.matcher:
            parts.append(self.matcher)
        return "{" + ", ".join(parts) + "}"

    def __getattr__(self, name: str) -> Threshold:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def render_rules(context: RenderContext, kind: str) -> str:
    inventory = context.inventory
    pack = inventory.packs[kind]
    return context.render(
        f"{pack.template_prefix}/alerts.yml.j2",
        kind=kind,
        job=kind,
        probe_job=PROBE_JOB,
        services=inventory.services_of(kind),
        by=", ".join(AGGREGATION_LABELS),
        rate_window=rate_window(inventory),
        scopes=partial(scopes, inventory, kind),
        alert_meta=partial(alert_meta, inventory),
    )


def render_stack_rules(context: RenderContext, components: list[Component]) -> str:
    """Alerts about the monitoring stack itself, owned by the stack's owner team."""
    inventory = context.inventory
    team = owner_team(inventory)
    overview = links.overview_url(inventory)

    def meta(alert: str, service: str, severity: str, **text: str) -> str:
        labels = {"severity": severity, "team": team, "service": service}
        return _meta_lines(inventory, alert, labels, overview, **text)

    return context.render(
        STACK_TEMPLATE,
        components=[c for c in components if c.down_alert],
        rate_window=rate_window(inventory),
        prometheus=components[0],
        alertmanager=_component(components, "stack-alertmanager"),
        gateway=_component(components, "stack-alert-gateway"),
        alert_meta=meta,
    )


def _component(components: list[Component], job: str) -> Component:
    return next(component for component in components if component.job == job)


def scopes(inventory: Inventory, kind: str, *names: str) -> list[Scope]:
    """The scopes of kind `kind` for an alert that uses thresholds `names`."""
    pack = inventory.packs[kind]
    unknown = [name for name in names if name not in pack.meta.thresholds]
    if unknown:
        template = f"{pack.template_prefix}/alerts.yml.j2"
        raise RenderError(f"{template}: unknown threshold {unknown[0]!r}")

    defaults = dict(pack.meta.thresholds)
    for name, value in inventory.model.defaults.thresholds.items():
        if name in defaults:
            defaults[name] = value
    baseline = tuple(defaults[name] for name in names)

    # Services share a rule when they share the thresholds and their dashboard
    # link can be written with `$labels.service` in place of the name.
    groups: dict[tuple[tuple[Threshold, ...], str], list[Service]] = defaultdict(list)
    for service in inventory.services_of(kind):
        values = tuple(inventory.thresholds(service)[name] for name in names)
        url = links.dashboard_url(inventory, service)
        groups[(values, url.replace(service.name, SERVICE_LABEL))].append(service)

    shared = [key for key in groups if key[0] == baseline]
    catch_all = max(shared, key=lambda key: (len(groups[key]), key[1]), default=None)

    result = []
    own = sorted(
        (
            service
            for key, members in groups.items()
            if key != catch_all
            for service in members
        ),
        key=lambda service: service.name,
    )
    if catch_all is not None:
        others = _alternatives(service.name for service in own)
        matcher = f'service!~"{others}"' if own else ""
        result.append(
            Scope(matcher, dict(zip(names, baseline, strict=True)), catch_all[1])
        )
    for service in own:
        thresholds = inventory.thresholds(service)
        values = {name: thresholds[name] for name in names}
        url = links.dashboard_url(inventory, service)
        result.append(Scope(f'service="{service.name}"', values, url, service))
    return result


def alert_meta(
    inventory: Inventory,
    alert: str,
    scope: Scope,
    severity: str,
    summary: str,
    description: str,
    indent: int = 8,
) -> str:
    """The `labels` and `annotations` block every alert carries, as YAML lines."""
    if severity not in SEVERITIES:
        raise RenderError(
            f"alert {alert}: severity {severity!r} is not one of {SEVERITIES}"
        )
    service, team = SERVICE_LABEL, TEAM_LABEL
    if scope.service is not None:
        service, team = scope.service.name, scope.service.team
    labels = {"severity": severity, "team": team, "service": service}
    return _meta_lines(
        inventory,
        alert,
        labels,
        scope.dashboard_url,
        summary=summary,
        description=description,
        indent=indent,
    )


def _meta_lines(
    inventory: Inventory,
    alert: str,
    labels: dict[str, str],
    dashboard_url: str,
    summary: str,
    description: str,
    indent: int = 8,
) -> str:
    annotations = {
        "summary": summary,
        "description": description,
        "runbook_url": links.runbook_url(inventory, alert),
        "dashboard_url": dashboard_url,
    }
    lines = ["labels:"]
    lines += [f"  {name}: {json.dumps(value)}" for name, value in labels.items()]
    lines.append("annotations:")
    lines += [f"  {name}: {json.dumps(value)}" for name, value in annotations.items()]
    return "\n".join(" " * indent + line for line in lines)


def check(files: Files, parsed: Mapping[str, Any]) -> None:
    check_stack(files, parsed)
