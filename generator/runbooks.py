"""The runbooks target: `docs/runbooks/<Alert>.md` for every alert the stack has.

The text comes from each pack's `runbooks.yml`, so a kind added as a folder
brings its runbooks with it; this module adds what only the inventory knows,
such as which teams to call.
"""

from __future__ import annotations

import logging
from typing import Any

import jinja2
import promql_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator import links, prometheus, yamlfile
from generator.errors import InventoryError, PackError, RenderError
from generator.inventory import Inventory, Team
from generator.packs import Pack
from generator.render import Files, RenderContext

log = logging.getLogger(__name__)

RUNBOOKS_FILE = "runbooks.yml"
RULES_DIR = "prometheus/rules/"
# Runbooks of the alerts about the monitoring stack itself, found like a
# template so that a `--templates` folder can replace them.
STACK_RUNBOOKS = "runbooks/stack.yml"
TEMPLATE = "runbooks/runbook.md.j2"


class Step(BaseModel):
    """A query that confirms the alert, and what its result shows."""

    model_config = ConfigDict(extra="forbid")

    query: str
    shows: str


class Runbook(BaseModel):
    """One alert's entry in a pack's `runbooks.yml`."""

    model_config = ConfigDict(extra="forbid")

    title: str
    meaning: str
    confirm: list[Step] = Field(min_length=1)
    first_steps: list[str] = Field(min_length=1)
    escalation: str


def render(context: RenderContext) -> Files:
    inventory = context.inventory
    comment = "<!--\n" + context.banner(comment="") + "-->"
    files: Files = {}
    owners: dict[str, str] = {}

    def add(alert: str, runbook: Runbook, owner: str, where: str, **values) -> None:
        if alert in owners:
            raise PackError(
                f"{where}: alert {alert!r} also has a runbook in {owners[alert]}"
            )
        owners[alert] = owner
        files[links.runbook_path(alert)] = context.render(
            TEMPLATE,
            comment=comment,
            alert=alert,
            runbook=runbook,
            placeholder=any("<service>" in step.query for step in runbook.confirm),
            **values,
        )

    for kind in inventory.kinds():
        pack = inventory.packs[kind]
        where = str(pack.directory / RUNBOOKS_FILE)
        for alert, runbook in load_runbooks(pack).items():
            raised_by = f"the rules of the `{kind}` kind ({pack.meta.title})"
            owner_text = f"Teams that own `{kind}` services:"
            values = {"raised_by": raised_by, "owner_text": owner_text}
            teams = _owning_teams(inventory, kind)
            add(alert, runbook, f"the {kind!r} pack", where, teams=teams, **values)

    owner = inventory.owner_team
    for alert, runbook in load_stack_runbooks(context.environment).items():
        values = {
            "raised_by": f"obsgen's rules about the monitoring stack itself "
            f"(`{prometheus.STACK_RULES}`)",
            "owner_text": "The team that owns the monitoring stack:",
        }
        add(alert, runbook, STACK_RUNBOOKS, STACK_RUNBOOKS, teams=[owner], **values)
    log.debug("rendered runbooks=%d", len(files))
    return files


def load_runbooks(pack: Pack) -> dict[str, Runbook]:
    """The runbooks of `pack` by alert name, their queries checked."""
    path = pack.directory / RUNBOOKS_FILE
    if not path.is_file():
        raise PackError(f"{path}: missing; every pack describes its alerts there")
    try:
        located = yamlfile.load(path)
    except InventoryError as error:
        raise PackError(str(error)) from None
    return parse_runbooks(located, str(path))


def load_stack_runbooks(environment: jinja2.Environment) -> dict[str, Runbook]:
    """The runbooks of the stack's own alerts, from the user's templates first."""
    try:
        text, filename, _ = environment.loader.get_source(  # type: ignore[union-attr]
            environment, STACK_RUNBOOKS
        )
    except jinja2.TemplateNotFound:
        raise PackError(f"{STACK_RUNBOOKS}: missing from the templates") from None
    try:
        located = yamlfile.loads(text, filename or STACK_RUNBOOKS)
    except InventoryError as error:
        raise PackError(str(error)) from None
    return parse_runbooks(located, filename or STACK_RUNBOOKS)


def parse_runbooks(located: yamlfile.Located, path: str) -> dict[str, Runbook]:
    """Runbooks by alert name from a parsed `runbooks.yml`, their queries checked."""
    if not isinstance(located.data, dict):
        raise PackError(f"{path}:1:1: expected a mapping of alert names to runbooks")

    runbooks = {}
    for alert, entry in located.data.items():
        try:
            runbooks[alert] = Runbook.model_validate(entry)
        except ValidationError as error:
            first = error.errors()[0]
            where = (alert, *first["loc"])
            raise PackError(str(located.problem(where, first["msg"]))) from None
        for index, step in enumerate(runbooks[alert].confirm):
            try:
                promql_parser.parse(step.query)
            except ValueError as error:
                where = (alert, "confirm", index, "query")
                message = f"query does not parse: {error}"
                raise PackError(str(located.problem(where, message))) from None
    return runbooks


def _owning_teams(inventory: Inventory, kind: str) -> list[Team]:
    names = {service.team for service in inventory.services_of(kind)}
    return [inventory.teams[name] for name in sorted(names)]


def check(files: Files, parsed: dict[str, Any]) -> None:
    """Every alert in the rendered rules has its runbook, and each runbook says
    it is generated."""
    for path in sorted(files):
        if not path.startswith(RULES_DIR):
            continue
        for group in (parsed.get(path) or {}).get("groups", []):
            for rule in group.get("rules") or []:
                alert = rule.get("alert")
                if alert and links.runbook_path(alert) not in files:
                    raise RenderError(
                        f"{path}: alert {alert!r} has no runbook; add it to the "
                        f"pack's {RUNBOOKS_FILE}"
                    )

    for path, text in files.items():
        if path.startswith("docs/runbooks/") and not text.startswith("<!--"):
            raise RenderError(f"{path}: does not start with the generated-file note")
