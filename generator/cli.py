"""The `obsgen` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
import promql_parser

from generator import __version__
from generator.errors import InventoryError, ObsgenError
from generator.inventory import Inventory, InventoryModel, load_inventory
from generator.lint import lint_file, rule_files
from generator.output import ensure_owned, stale_diff, write_output
from generator.packs import load_packs
from generator.render import RenderContext, default_targets, render_stack, source_name
from generator.templating import create_environment

log = logging.getLogger(__name__)

existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)
existing_dir = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group()
@click.version_option(__version__, prog_name="obsgen")
@click.option("-v", "--verbose", count=True, help="Log what happens (-vv for more).")
def cli(verbose: int) -> None:
    """Generate a complete observability stack from one service inventory."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("inventory", type=existing_file)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write the stack into (replaced as a whole).",
)
@click.option(
    "--templates",
    "user_templates",
    type=existing_dir,
    help="Folder of templates and rule packs used before the built-in ones.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; print a diff and exit 1 when the folder is stale.",
)
def render(
    inventory: Path, output_dir: Path, user_templates: Path | None, check: bool
) -> None:
    """Render every file of the stack described by INVENTORY."""
    checked = _load(inventory, user_templates)
    context = RenderContext(
        inventory=checked,
        environment=create_environment(user_templates),
        source_name=source_name(inventory, output_dir),
    )
    files = _guard(lambda: render_stack(context, default_targets()))

    if check:
        _guard(lambda: ensure_owned(output_dir))
        diff = stale_diff(files, output_dir)
        if diff:
            click.echo(diff, nl=False)
            click.echo(f"{output_dir}: stale; run `obsgen render` and commit", err=True)
            sys.exit(1)
        click.echo(f"{output_dir}: up to date ({len(files)} files)")
        return

    _guard(lambda: write_output(files, output_dir))
    click.echo(f"{output_dir}: wrote {len(files)} files")


@cli.command()
@click.argument("inventory", type=existing_file)
@click.option(
    "--templates",
    "user_templates",
    type=existing_dir,
    help="Folder of rule packs to accept kinds from, as with `render`.",
)
def validate(inventory: Path, user_templates: Path | None) -> None:
    """Check INVENTORY and report every problem with its position."""
    checked = _load(inventory, user_templates)
    click.echo(f"{inventory}: valid ({len(checked.services)} services)")


@cli.command()
def schema() -> None:
    """Print a JSON Schema of the inventory format, for editors."""
    document = InventoryModel.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "obsgen service inventory"
    click.echo(json.dumps(document, indent=2, sort_keys=True))


@cli.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
@click.option(
    "--scrape-interval",
    default="15s",
    show_default=True,
    help="Scrape interval the rules run against, for checking rate() ranges.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def lint(paths: tuple[Path, ...], scrape_interval: str, strict: bool) -> None:
    """Lint Prometheus rule files (files, or folders searched for YAML)."""
    try:
        interval = promql_parser.parse_duration(scrape_interval)
    except ValueError:
        raise click.BadParameter(
            f"{scrape_interval!r} is not a duration such as 15s",
            param_hint="--scrape-interval",
        ) from None

    findings = []
    files = rule_files(list(paths))
    if not files:
        click.echo("obsgen: error: no rule files (*.yml, *.yaml) found", err=True)
        sys.exit(1)
    for path in files:
        findings += lint_file(path, scrape_interval=interval)
    for finding in findings:
        click.echo(str(finding))

    errors = sum(finding.severity == "error" for finding in findings)
    warnings = len(findings) - errors
    click.echo(
        f"rule files: {len(files)}, errors: {errors}, warnings: {warnings}", err=True
    )
    if errors or (strict and warnings):
        sys.exit(1)


def _load(inventory: Path, user_templates: Path | None) -> Inventory:
    packs = _guard(lambda: load_packs(user_templates))
    return _guard(lambda: load_inventory(inventory, packs))


def _guard(step):
    """Run `step`, turning obsgen's own errors into a message and an exit code."""
    try:
        return step()
    except InventoryError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(error.exit_code)
    except ObsgenError as error:
        click.echo(f"obsgen: error: {error}", err=True)
        sys.exit(error.exit_code)


def main() -> None:
    cli(prog_name="obsgen")
