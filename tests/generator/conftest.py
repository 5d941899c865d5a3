"""Fixtures shared by the generator's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.inventory import Inventory, load_inventory
from generator.packs import load_packs

ROOT = Path(__file__).resolve().parents[2]
CARDEALER = ROOT / "examples" / "cardealer" / "inventory.yaml"
INVENTORIES = Path(__file__).resolve().parent / "inventories"


def run_obsgen(*args: str | Path) -> Result:
    """Run the command line in-process and return what it printed and its exit code."""
    runner = CliRunner()
    return runner.invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def load(path: Path) -> Inventory:
    return load_inventory(path, load_packs())


def write_inventory(directory: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def needs(tool: str):
    """Skip nothing silently: a missing stack tool fails the test that needs it."""
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} is not installed; .ci/run installs it")
    return found


@pytest.fixture(scope="session")
def cardealer_stack(tmp_path_factory) -> Path:
    """The CarDealer inventory rendered once into a temporary folder."""
    output = tmp_path_factory.mktemp("cardealer") / "stack"
    result = run_obsgen("render", CARDEALER, "-o", output)
    assert result.exit_code == 0, result.output
    return output


MINIMAL = """\
stack:
  name: shop
  environment: staging
teams:
  - name: web
    slack_channel: "#web-alerts"
    rotation: web-oncall
services:
  - name: storefront
    kind: http
    team: web
    port: 8080
"""
