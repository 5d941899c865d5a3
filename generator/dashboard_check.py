"""Structural checks of rendered dashboards and Grafana's provisioning files.

Grafana loads a provisioned dashboard whose panels overlap, share an id or
query a datasource that does not exist, and shows it broken without a word.
These checks catch that before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import promql_parser

from generator.dashboard import (
    DATASOURCE_REF,
    DATASOURCE_VARIABLE,
    GRID_COLUMNS,
    SCHEMA_VERSION,
)
from generator.errors import RenderError
from generator.links import MAX_UID_CHARS

Fail = Callable[[str], RenderError]

UID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
# `$name`, `${name}` and `${name:format}`: Grafana replaces these before the
# query reaches Prometheus, so the parser sees a legal stand-in instead.
VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)")
# An unusual duration, so that a literal range in a query cannot pass for the
# `$__rate_interval` variable in the check below.
RATE_INTERVAL_STANDIN = "1m7s"
DURATION_STANDINS = {
    "__rate_interval": RATE_INTERVAL_STANDIN,
    "__interval": "1m",
    "__range": "1h",
}
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})


def check_dashboards(boards: Iterable[tuple[str, Any]]) -> None:
    """Raise RenderError naming the file and panel of the first broken dashboard."""
    uids: dict[str, str] = {}
    for path, board in boards:
        check_dashboard(path, board)
        uid = board["uid"]
        if uid in uids:
            raise RenderError(f"{path}: uid {uid!r} is also the uid of {uids[uid]}")
        uids[uid] = path


def check_dashboard(path: str, board: Any) -> None:
    def fail(message: str) -> RenderError:
        return RenderError(f"{path}: {message}")

    if not isinstance(board, dict):
        raise fail("a dashboard must be a JSON object")
    if "dashboard" in board:
        raise fail("provisioned dashboards are bare, without a 'dashboard' envelope")
    if board.get("id") is not None:
        raise fail("a provisioned dashboard must not carry a numeric 'id'")

    uid = board.get("uid")
    if not isinstance(uid, str) or not UID_PATTERN.match(uid):
        raise fail(f"uid {uid!r} is not letters, digits, '-' and '_'")
    if len(uid) > MAX_UID_CHARS:
        raise fail(f"uid {uid!r} is longer than {MAX_UID_CHARS} characters")
    if board.get("schemaVersion") != SCHEMA_VERSION:
        raise fail(f"schemaVersion must be {SCHEMA_VERSION}")
    if not board.get("description"):
        raise fail("the description must say the file is generated")
    _check_datasource_variable(board, fail)

    panels = _all_panels(board.get("panels"), fail)
    _check_ids(panels, fail)
    _check_grid(panels, fail)
    for panel in panels:
        if panel.get("type") != "row":
            _check_panel(panel, fail)


def _check_datasource_variable(board: dict[str, Any], fail: Fail) -> None:
    variables = (board.get("templating") or {}).get("list") or []
    for variable in variables:
        if variable.get("name") == DATASOURCE_VARIABLE:
            if variable.get("type") != "datasource":
                raise fail("variable 'datasource' must be of type 'datasource'")
            if variable.get("query") != "prometheus":
                raise fail("variable 'datasource' must offer prometheus datasources")
            return
    raise fail("there is no 'datasource' variable")


def _all_panels(panels: Any, fail: Fail) -> list[dict[str, Any]]:
    """Every panel, including those folded inside collapsed rows."""
    if not isinstance(panels, list) or not all(isinstance(p, dict) for p in panels):
        raise fail("'panels' must be a list of objects")
    found = []
    for panel in panels:
        found.append(panel)
        if panel.get("type") == "row":
            found += _all_panels(panel.get("panels") or [], fail)
    return found


def _name(panel: dict[str, Any]) -> str:
    return f"panel {panel.get('id')} {panel.get('title')!r}"


def _check_ids(panels: list[dict[str, Any]], fail: Fail) -> None:
    seen: dict[int, dict[str, Any]] = {}
    for panel in panels:
        number = panel.get("id")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise fail(f"{_name(panel)}: id must be a positive integer")
        if number in seen:
            raise fail(f"{_name(panel)}: id {number} is also the id of another panel")
        seen[number] = panel


def _check_grid(panels: list[dict[str, Any]], fail: Fail) -> None:
    boxes = []
    for panel in panels:
        grid = panel.get("gridPos") or {}
        box = tuple(grid.get(key) for key in ("x", "y", "w", "h"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in box):
            raise fail(f"{_name(panel)}: gridPos needs integer x, y, w and h")
        x, y, w, h = box
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_COLUMNS:
            raise fail(f"{_name(panel)}: gridPos {grid} is outside the 24-column grid")
        boxes.append((box, panel))

    # Sorted by top edge, a panel can only overlap those that start above its bottom.
    boxes.sort(key=lambda item: item[0][1])
    for index, ((x, y, w, h), panel) in enumerate(boxes):
        for (ox, oy, ow, _), other in boxes[index + 1 :]:
            if oy >= y + h:
                break
            if ox < x + w and x < ox + ow:
                raise fail(f"{_name(other)}: overlaps {_name(panel)}")


def _check_panel(panel: dict[str, Any], fail: Fail) -> None:
    where = _name(panel)
    if panel.get("datasource") != DATASOURCE_REF:
        raise fail(f"{where}: datasource must be {DATASOURCE_REF}")

    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    unit = defaults.get("unit")
    if not isinstance(unit, str) or not unit:
        raise fail(f"{where}: fieldConfig.defaults has no unit")

    targets = panel.get("targets")
    if not isinstance(targets, list) or not targets:
        raise fail(f"{where}: has no queries")
    for target in targets:
        ref = target.get("refId")
        if target.get("datasource") != DATASOURCE_REF:
            raise fail(f"{where}: query {ref}: datasource must be {DATASOURCE_REF}")
        problem = expr_problem(target.get("expr"))
        if problem:
            raise fail(f"{where}: query {ref}: {problem}")


def expr_problem(expr: Any) -> str | None:
    """Why `expr` is not a query Grafana can send to Prometheus, or None."""
    if not isinstance(expr, str) or not expr.strip():
        return "expr is empty"
    return _promql_problem(expr)


# Dashboards of the same kind share their queries: each is parsed once.
@lru_cache(maxsize=4096)
def _promql_problem(expr: str) -> str | None:
    try:
        parsed = promql_parser.parse(standins(expr))
    except ValueError as error:
        return f"expr does not parse ({error}): {expr}"

    slow: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.Call) and node.func.name in RATE_FUNCTIONS:
            for argument in node.args:
                if isinstance(argument, promql_parser.MatrixSelector) and (
                    argument.range
                    != promql_parser.parse_duration(RATE_INTERVAL_STANDIN)
                ):
                    slow.append(node.func.name)

    promql_parser.walk(parsed, visit)
    if slow:
        return f"{slow[0]}() must range over $__rate_interval: {expr}"
    return None


def standins(expr: str) -> str:
    """`expr` with each Grafana variable replaced by something PromQL accepts."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        # A number reads as a label value inside quotes and as a number outside.
        return DURATION_STANDINS.get(name, "1")

    return VARIABLE.sub(replace, expr)


def check_provisioning(
    parsed: Mapping[str, Any], datasource_file: str, provider_file: str, path: str
) -> None:
    """The datasource exists once, as the default, and the provider reads `path`."""
    datasources = (parsed.get(datasource_file) or {}).get("datasources") or []
    prometheus = [d for d in datasources if d.get("type") == "prometheus"]
    if len(prometheus) != 1 or prometheus[0].get("isDefault") is not True:
        raise RenderError(f"{datasource_file}: needs one default Prometheus datasource")
    if not prometheus[0].get("uid"):
        raise RenderError(f"{datasource_file}: the datasource needs a fixed uid")

    providers = (parsed.get(provider_file) or {}).get("providers") or []
    if len(providers) != 1:
        raise RenderError(f"{provider_file}: needs exactly one dashboard provider")
    provider = providers[0]
    if (provider.get("options") or {}).get("path") != path:
        raise RenderError(f"{provider_file}: the provider must read {path}")
    if provider.get("allowUiUpdates") is not False:
        raise RenderError(f"{provider_file}: allowUiUpdates must be false")
