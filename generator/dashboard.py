"""Grafana dashboards: the specification format and the JSON model built from it.

A specification (`dashboards/*.yml`, or a pack's `rules/<kind>/panels.yml`) lists
rows of panels with their PromQL, unit and size. This module reads those
specifications through the template environment, so a `--templates` folder can
replace any of them, and turns them into Grafana's classic dashboard JSON:
panels laid out on the 24-column grid, every query going through the
`$datasource` variable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator import yamlfile
from generator.errors import InventoryError, PackError

# The classic JSON model's version as written by Grafana 11.2, the version the
# compose file pins: Grafana migrates older dashboards on load but leaves newer
# ones as they are. Raise the two together.
SCHEMA_VERSION = 39
GRID_COLUMNS = 24
DATASOURCE_VARIABLE = "datasource"
# Every panel and query names its datasource through the variable, never a uid.
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}

PanelType = Annotated[str, Field(pattern=r"^[a-z][a-z-]*$")]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SpecT = TypeVar("SpecT", bound=Spec)


class TargetSpec(Spec):
    """One PromQL query of a panel."""

    expr: str = Field(min_length=1)
    legend: str = ""
    instant: bool = False
    format: Literal["time_series", "table"] = "time_series"


class PanelSpec(Spec):
    """One panel: what it shows, in which unit, and how much of the grid it takes."""

    title: str = Field(min_length=1)
    type: PanelType = "timeseries"
    description: str = ""
    unit: str = Field(min_length=1)
    width: int = Field(default=12, ge=1, le=GRID_COLUMNS)
    height: int = Field(default=8, ge=1, le=40)
    # Drawn as the red step: a threshold of the pack by name, or a number.
    threshold: str | int | float | None = None
    min: float | None = None
    max: float | None = None
    mappings: Literal["up_down"] | None = None
    # Queries are lettered A to Z.
    targets: list[TargetSpec] = Field(min_length=1, max_length=26)


class RowSpec(Spec):
    """A titled row of panels."""

    title: str = Field(min_length=1)
    panels: list[PanelSpec] = Field(min_length=1)


class DashboardSpec(Spec):
    """A whole dashboard of `dashboards/`: its rows, and the service values it shows."""

    title: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    # Thresholds of the service offered to queries as hidden constant variables.
    constants: list[str] = Field(default_factory=list)
    rows: list[RowSpec] = Field(default_factory=list)
    # Panels of a kind whose pack has no `panels.yml`; `<kind>` stands for the kind.
    default_panels: list[PanelSpec] = Field(default_factory=list)


class PackPanels(Spec):
    """A pack's `panels.yml`: its row of the infrastructure dashboard."""

    title: str | None = None
    panels: list[PanelSpec] = Field(min_length=1)


def load_spec(
    environment: jinja2.Environment, name: str, model: type[SpecT]
) -> SpecT | None:
    """The specification `name` as found by the template loader, or None if absent.

    Specifications are read as plain YAML, not rendered: Grafana's own
    `{{label}}` legends would otherwise clash with jinja.
    """
    loader = environment.loader
    if loader is None:
        return None
    try:
        text, filename, _ = loader.get_source(environment, name)
    except jinja2.TemplateNotFound:
        return None

    try:
        located = yamlfile.loads(text, filename or name)
        return model.model_validate(located.data)
    except InventoryError as error:
        raise PackError(str(error)) from None
    except ValidationError as error:
        first = error.errors()[0]
        path = tuple(part for part in first["loc"] if isinstance(part, str | int))
        message = first["msg"]
        if first["type"] == "missing":
            message = "required key is missing"
        raise PackError(str(located.problem(path, message))) from None


def layout(rows: list[tuple[str | None, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Place panels on the grid row by row, left to right, and number them.

    Each panel arrives with `gridPos` holding only its `w` and `h`; a row title
    of None places the panels without a row header.
    """
    placed: list[dict[str, Any]] = []
    y = 0
    for title, panels in rows:
        if title is not None:
            placed.append(row_panel(title, y))
            y += 1

        x = line_height = 0
        for panel in panels:
            width, height = panel["gridPos"]["w"], panel["gridPos"]["h"]
            if x + width > GRID_COLUMNS:
                y, x, line_height = y + line_height, 0, 0
            panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            placed.append(panel)
            x += width
            line_height = max(line_height, height)
        y += line_height

    for number, panel in enumerate(placed, start=1):
        panel["id"] = number
    return placed


def row_panel(title: str, y: int) -> dict[str, Any]:
    return {
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y},
        "panels": [],
        "title": title,
        "type": "row",
    }


def panel(
    spec: PanelSpec, threshold: Any = None, replace: dict[str, str] | None = None
) -> dict[str, Any]:
    """The JSON of one panel, not yet placed; `threshold` is the red step's value.

    `replace` maps placeholder text to its value in queries and titles. Keys
    whose value is Grafana's default are left out: ten thousand service
    dashboards make every line count.
    """

    def text(value: str) -> str:
        for placeholder, substitute in (replace or {}).items():
            value = value.replace(placeholder, substitute)
        return value

    built: dict[str, Any] = {
        "datasource": dict(DATASOURCE_REF),
        "fieldConfig": {"defaults": field_defaults(spec, threshold), "overrides": []},
        "gridPos": {"h": spec.height, "w": spec.width},
        "targets": [
            target_json(target, index, text)
            for index, target in enumerate(spec.targets)
        ],
        "title": text(spec.title),
        "type": spec.type,
    }
    if spec.description:
        built["description"] = text(spec.description)
    options = panel_options(spec, "thresholds" in built["fieldConfig"]["defaults"])
    if options:
        built["options"] = options
    return built


def target_json(
    target: TargetSpec, index: int, text: Callable[[str], str]
) -> dict[str, Any]:
    built: dict[str, Any] = {
        "datasource": dict(DATASOURCE_REF),
        "expr": text(target.expr),
        "refId": chr(ord("A") + index),
    }
    if target.legend:
        built["legendFormat"] = target.legend
    if target.instant:
        built.update(instant=True, range=False)
    if target.format != "time_series":
        built["format"] = target.format
    return built


def field_defaults(spec: PanelSpec, threshold: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": spec.unit}
    if spec.mappings == "up_down":
        defaults["mappings"] = [UP_DOWN_MAPPING]
        defaults["thresholds"] = steps({"color": "red", "value": None}, 1)
    elif threshold is not None:
        defaults["thresholds"] = steps({"color": "green", "value": None}, threshold)
        if spec.type == "timeseries":
            defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}

    if spec.min is not None:
        defaults["min"] = spec.min
    if spec.max is not None:
        defaults["max"] = spec.max
    return defaults


def steps(base: dict[str, Any], value: Any) -> dict[str, Any]:
    """Thresholds from `base` up to `value`, where the other colour starts."""
    above = "green" if base["color"] == "red" else "red"
    return {"mode": "absolute", "steps": [base, {"color": above, "value": value}]}


UP_DOWN_MAPPING = {
    "options": {
        "0": {"color": "red", "text": "DOWN"},
        "1": {"color": "green", "text": "UP"},
    },
    "type": "value",
}


def panel_options(spec: PanelSpec, colored: bool) -> dict[str, Any]:
    """Options that differ from the panel type's defaults.

    A stat panel without thresholds is left uncoloured: Grafana's default
    thresholds would paint any value over 80 red.
    """
    if spec.type in {"stat", "gauge", "bargauge"}:
        return {
            "colorMode": "background" if colored else "none",
            "graphMode": "none",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        }
    return {}


def datasource_variable(default_uid: str) -> dict[str, Any]:
    return {
        "current": {"text": "Prometheus", "value": default_uid},
        "hide": 0,
        "label": "Data source",
        "name": DATASOURCE_VARIABLE,
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def constant_variable(name: str, value: str) -> dict[str, Any]:
    """A hidden variable that gives queries a value fixed at render time."""
    return {
        "hide": 2,
        "name": name,
        "query": value,
        "skipUrlSync": True,
        "type": "constant",
    }


def custom_variable(name: str, label: str, values: list[str]) -> dict[str, Any]:
    """A multi-value choice among `values`, all of them selected at first."""
    return {
        "allValue": ".*",
        "current": {"text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": ",".join(values),
        "type": "custom",
    }


def link(title: str, url: str) -> dict[str, Any]:
    return {
        "icon": "dashboard",
        "keepTime": True,
        "title": title,
        "type": "link",
        "url": url,
    }


def tag_link(title: str, tags: list[str]) -> dict[str, Any]:
    """A drop-down of every dashboard carrying all of `tags`."""
    return {
        "asDropdown": True,
        "keepTime": True,
        "tags": tags,
        "title": title,
        "type": "dashboards",
    }


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
    links: list[dict[str, Any]],
) -> dict[str, Any]:
    """A bare dashboard as provisioning reads it: no API envelope, no numeric id."""
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": False,
        "graphTooltip": 1,
        "links": links,
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": tags,
        "templating": {"list": variables},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
    }
