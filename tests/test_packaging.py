"""A plain `pip install .` gives a working obsgen, templates and packs included."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.generator.conftest import CARDEALER, run_obsgen

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str | Path, cwd: Path) -> str:
    completed = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


@pytest.mark.slow
def test_wheel_installed_in_a_clean_venv_renders_like_the_source_tree(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "dist"),
    )
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-w",
        tmp_path / "dist",
        source,
        cwd=tmp_path,
    )
    wheel = next((tmp_path / "dist").glob("obsgen-*.whl"))

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path)

    # Outside the source tree, so only the installed package can answer.
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(CARDEALER, work / "inventory.yaml")
    run(
        environment / "bin" / "obsgen",
        "render",
        "inventory.yaml",
        "-o",
        "stack",
        cwd=work,
    )
    expected = tmp_path / "expected"
    expected.mkdir()
    shutil.copy(CARDEALER, expected / "inventory.yaml")
    assert (
        run_obsgen(
            "render", expected / "inventory.yaml", "-o", expected / "stack"
        ).exit_code
        == 0
    )

    def tree(root: Path) -> dict[str, bytes]:
        return {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in root.rglob("*")
            if path.is_file()
        }

    installed, in_tree = tree(work / "stack"), tree(expected / "stack")
    assert sorted(installed) == sorted(in_tree)
    assert installed == in_tree
    assert any(name.startswith("prometheus/rules/") for name in installed)
