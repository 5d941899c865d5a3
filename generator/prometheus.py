"""The prometheus target: prometheus.yml, file_sd targets, blackbox.yml and rules.

The scrape jobs come from `scrape`; the rule files from each kind's pack, with
thresholds grouped so that the number of rules follows the inventory's
overrides, not its size.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
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
from generator.scrape import (
    PROBE_JOB,
    PROBE_MODULE,
    Component,
    Target,
    alternatives,
    kind_job,
    probe_job,
    stack_components,
)

log = logging.getLogger(__name__)

BLACKBOX_CONFIG = "prometheus/blackbox.yml"

STACK_RULES = f"{RULES_DIR}/stack.yml"
STACK_TEMPLATE = "prometheus/stack.yml.j2"

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


def render(context: RenderContext) -> Files:
    inventory = context.inventory
    components = stack_components(inventory)
    jobs = [kind_job(inventory, kind) for kind in inventory.kinds()]
    jobs.append(probe_job(inventory))
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
    team = inventory.owner_team.name
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
        others = alternatives(service.name for service in own)
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
