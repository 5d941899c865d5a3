"""The grafana target: provisioning files and the stack's dashboards.

Grafana reads the provisioning folder at start: one Prometheus datasource and
one file provider that loads every dashboard in the mounted dashboards folder.
The dashboards are a stack overview, one dashboard per `http` service and one
infrastructure dashboard with a row per other kind, built from the
specifications in `dashboards/` and each pack's `panels.yml`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from generator import dashboard as model
from generator.dashboard import DashboardSpec, PackPanels, PanelSpec
from generator.dashboard_check import (
    check_dashboards,
    check_provisioning,
    expr_problem,
)
from generator.errors import PackError
from generator.inventory import Inventory, Service
from generator.links import (
    dashboard_uid,
    has_service_dashboard,
    service_dashboard_name,
)
from generator.prototype import Prototype, json_number, number_mark, text_mark
from generator.render import Files, RenderContext

log = logging.getLogger(__name__)

# Where the compose file mounts the rendered folders inside the Grafana container:
# `../grafana/provisioning` and `../grafana/dashboards` relative to the compose file.
PROVISIONING_CONTAINER_PATH = "/etc/grafana/provisioning"
DASHBOARDS_CONTAINER_PATH = "/var/lib/grafana/dashboards"
PROMETHEUS_URL = "http://prometheus:9090"

DATASOURCE_FILE = "grafana/provisioning/datasources/prometheus.yml"
PROVIDER_FILE = "grafana/provisioning/dashboards/obsgen.yml"
DASHBOARDS_FOLDER = "grafana/dashboards"

OVERVIEW_SPEC = "dashboards/overview.yml"
SERVICE_SPEC = "dashboards/service.yml"
INFRASTRUCTURE_SPEC = "dashboards/infrastructure.yml"


def render(context: RenderContext) -> Files:
    inventory = context.inventory
    datasource_uid = stack_datasource_uid(inventory)
    files = {
        DATASOURCE_FILE: context.render(
            "grafana/datasources.yml.j2",
            datasource_uid=datasource_uid,
            prometheus_url=PROMETHEUS_URL,
        ),
        PROVIDER_FILE: context.render(
            "grafana/dashboards.yml.j2",
            folder_uid=dashboard_uid(inventory, "folder"),
            dashboards_path=DASHBOARDS_CONTAINER_PATH,
        ),
    }

    common = Common(
        inventory=inventory,
        note=generated_note(context),
        datasource_uid=datasource_uid,
        has_infrastructure=bool(infrastructure_services(inventory)),
    )
    environment = context.environment
    boards = {"overview": overview(common, spec(environment, OVERVIEW_SPEC))}
    if common.has_infrastructure:
        infra_spec = spec(environment, INFRASTRUCTURE_SPEC)
        boards["infrastructure"] = infrastructure(common, infra_spec, environment)
    for name, board in boards.items():
        files[f"{DASHBOARDS_FOLDER}/{name}.json"] = serialise(board)

    files.update(service_dashboards(common, spec(environment, SERVICE_SPEC)))
    log.debug("rendered dashboards=%d", len(files) - 2)
    return files


def check(files: Files, parsed: Mapping[str, Any]) -> None:
    check_provisioning(
        parsed, DATASOURCE_FILE, PROVIDER_FILE, DASHBOARDS_CONTAINER_PATH
    )
    # One dashboard at a time, so that a lazily parsed mapping stays small.
    dashboards = (
        (path, parsed[path])
        for path in sorted(files)
        if path.startswith(f"{DASHBOARDS_FOLDER}/") and path.endswith(".json")
    )
    check_dashboards(dashboards)


@dataclass(frozen=True)
class Common:
    """What every dashboard of the stack shares."""

    inventory: Inventory
    note: str
    datasource_uid: str
    has_infrastructure: bool

    def tags(self, *more: str) -> list[str]:
        return ["obsgen", self.inventory.stack.name, *more]

    def links(
        self, *, overview: bool = True, infrastructure: bool = True
    ) -> list[dict[str, Any]]:
        """Links to the other dashboards; a dashboard leaves itself out."""
        links = []
        if overview:
            uid = dashboard_uid(self.inventory, "overview")
            links.append(model.link("Overview", f"/d/{uid}"))
        if infrastructure and self.has_infrastructure:
            uid = dashboard_uid(self.inventory, "infrastructure")
            links.append(model.link("Infrastructure", f"/d/{uid}"))
        links.append(model.tag_link("Services", self.tags("service")))
        return links

    def description(self, text: str) -> str:
        return f"{text.strip()} {self.note}".strip()


def stack_datasource_uid(inventory: Inventory) -> str:
    # Datasource uids have the same 40-character limit as dashboard uids.
    return dashboard_uid(inventory, "prometheus")


def generated_note(context: RenderContext) -> str:
    """The banner as one sentence: JSON has no comments, so it goes in descriptions."""
    return " ".join(line.strip() for line in context.banner(comment="").splitlines())


def spec(environment: jinja2.Environment, name: str) -> DashboardSpec:
    found = model.load_spec(environment, name, DashboardSpec)
    if found is None:
        raise PackError(f"{name}: dashboard specification not found")
    return found


def serialise(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def infrastructure_services(inventory: Inventory) -> list[Service]:
    return [s for s in inventory.services if not has_service_dashboard(inventory, s)]


def stack_thresholds(inventory: Inventory, kind: str) -> dict[str, Any]:
    """A kind's thresholds for panels that show many services: pack, then defaults."""
    pack = inventory.packs.get(kind)
    values = dict(pack.meta.thresholds) if pack else {}
    for name, value in inventory.model.defaults.thresholds.items():
        if name in values:
            values[name] = value
    return values


def numeric_threshold(values: dict[str, Any], name: str, where: str) -> Any:
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        known = ", ".join(sorted(k for k, v in values.items() if _is_number(v)))
        raise PackError(
            f"{where}: threshold {name!r} is not a numeric threshold "
            f"of the pack (numeric: {known or 'none'})"
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def rows_of(
    specs: list[tuple[str | None, list[PanelSpec]]],
    resolve: Callable[[str], Any],
    where: str,
    replace: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Panels of several rows, laid out and numbered; `resolve` gives a named
    threshold's value, `where` names the specification in errors."""
    rows = []
    for title, panels in specs:
        built = []
        for panel_spec in panels:
            value = panel_spec.threshold
            if isinstance(value, str):
                value = resolve(value)
            built.append(model.panel(panel_spec, value, replace))
            # Caught here, a bad query names the file its author edits.
            for target in built[-1]["targets"]:
                if problem := expr_problem(target["expr"]):
                    raise PackError(f"{where}: panel {panel_spec.title!r}: {problem}")
        rows.append((title, built))
    return model.layout(rows)


def resolver(values: dict[str, Any], where: str) -> Callable[[str], Any]:
    return lambda name: numeric_threshold(values, name, where)


def overview(common: Common, overview_spec: DashboardSpec) -> dict[str, Any]:
    inventory = common.inventory
    rows = [(row.title, row.panels) for row in overview_spec.rows]
    thresholds = stack_thresholds(inventory, "http")
    return model.dashboard(
        uid=dashboard_uid(inventory, "overview"),
        title=f"{inventory.stack.name}: {overview_spec.title}",
        description=common.description(overview_spec.description),
        tags=common.tags(*overview_spec.tags),
        panels=rows_of(rows, resolver(thresholds, OVERVIEW_SPEC), OVERVIEW_SPEC),
        variables=[model.datasource_variable(common.datasource_uid)],
        links=common.links(overview=False),
    )


def infrastructure(
    common: Common, infra_spec: DashboardSpec, environment: jinja2.Environment
) -> dict[str, Any]:
    inventory = common.inventory
    services = infrastructure_services(inventory)
    kinds = sorted({service.kind for service in services})

    panels: list[dict[str, Any]] = []
    for kind in kinds:
        name = f"rules/{kind}/panels.yml"
        pack_panels = model.load_spec(environment, name, PackPanels)
        title = inventory.packs[kind].meta.title
        if pack_panels is None:
            specs, where = infra_spec.default_panels, INFRASTRUCTURE_SPEC
        else:
            specs, where = pack_panels.panels, name
            title = pack_panels.title or title
        resolve = resolver(stack_thresholds(inventory, kind), where)
        row = rows_of([(title, specs)], resolve, where, {"<kind>": kind})
        offset_rows(row, panels)
        panels.extend(row)

    variables = [
        model.datasource_variable(common.datasource_uid),
        model.custom_variable("service", "Service", [s.name for s in services]),
    ]
    return model.dashboard(
        uid=dashboard_uid(inventory, "infrastructure"),
        title=f"{inventory.stack.name}: {infra_spec.title}",
        description=common.description(infra_spec.description),
        tags=common.tags(*infra_spec.tags),
        panels=panels,
        variables=variables,
        links=common.links(infrastructure=False),
    )


def offset_rows(row: list[dict[str, Any]], above: list[dict[str, Any]]) -> None:
    """Move a separately laid-out row below the panels `above` and renumber it."""
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in above), default=0)
    for index, panel in enumerate(row, start=len(above) + 1):
        panel["gridPos"]["y"] += bottom
        panel["id"] = index


@dataclass(frozen=True)
class ServiceValues:
    """What differs between two service dashboards."""

    name: str
    team: str
    uid: str
    # Thresholds as JSON numbers (panel steps) and as text (constant variables).
    numbers: dict[str, Any]
    texts: dict[str, str]


def service_dashboard(
    common: Common, service_spec: DashboardSpec, values: ServiceValues
) -> dict[str, Any]:
    rows = [(row.title, row.panels) for row in service_spec.rows]
    variables = [
        model.datasource_variable(common.datasource_uid),
        model.constant_variable("service", values.name),
    ]
    variables += [
        model.constant_variable(name, values.texts[name])
        for name in service_spec.constants
    ]
    return model.dashboard(
        uid=values.uid,
        title=f"{common.inventory.stack.name}: {values.name}",
        description=common.description(
            f"{service_spec.description.strip()} Service {values.name}, "
            f"owned by team {values.team}."
        ),
        tags=common.tags(*service_spec.tags, f"team-{values.team}"),
        panels=rows_of(rows, values.numbers.__getitem__, SERVICE_SPEC),
        variables=variables,
        links=common.links(),
    )


def service_values(
    inventory: Inventory, service: Service, names: list[str]
) -> ServiceValues:
    thresholds = inventory.thresholds(service)
    numbers = {
        name: numeric_threshold(thresholds, name, SERVICE_SPEC) for name in names
    }
    return ServiceValues(
        name=service.name,
        team=service.team,
        uid=dashboard_uid(inventory, service_dashboard_name(service)),
        numbers=numbers,
        texts={name: json_number(value) for name, value in numbers.items()},
    )


def threshold_names(service_spec: DashboardSpec) -> list[str]:
    names = set(service_spec.constants)
    for row in service_spec.rows:
        names.update(p.threshold for p in row.panels if isinstance(p.threshold, str))
    return sorted(names)


def service_dashboards(common: Common, service_spec: DashboardSpec) -> Files:
    """One dashboard per service, filled into a prototype serialised once."""
    inventory = common.inventory
    names = threshold_names(service_spec)
    marked = ServiceValues(
        name=text_mark("name"),
        team=text_mark("team"),
        uid=text_mark("uid"),
        numbers={name: number_mark(name) for name in names},
        texts={name: text_mark(f"threshold.{name}") for name in names},
    )
    prototype = Prototype(serialise(service_dashboard(common, service_spec, marked)))

    files: Files = {}
    for service in inventory.services:
        if not has_service_dashboard(inventory, service):
            continue
        values = service_values(inventory, service, names)
        texts = {f"threshold.{name}": text for name, text in values.texts.items()}
        texts.update(name=values.name, team=values.team, uid=values.uid)
        path = f"{DASHBOARDS_FOLDER}/{service_dashboard_name(service)}.json"
        files[path] = prototype.fill(values.numbers, texts)
    return files
