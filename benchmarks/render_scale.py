"""How `obsgen render` scales with the size of the inventory.

For synthetic inventories of 100, 1,000 and 10,000 services this prints the
wall time and peak memory of a full render (load, validate, template, check,
write), and beside it the floor: the time to serialise the same final data,
already in memory, with no templating and no checks.

Each size runs in a child process so that its peak memory is its own.

    python benchmarks/render_scale.py [--sizes 100 1000 10000]

Targets: 10,000 services in under 10 s and 500 MB, within 3x the floor, and
time growing no faster than the number of services.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEAMS = 20
# One service in this many is infrastructure, cycling through the kinds.
INFRA_EVERY = 10
INFRA_KINDS = [("postgres", 5432), ("redis", 6379), ("rabbitmq", 5672)]


def synthetic_inventory(services: int) -> str:
    """An inventory of `services` services: mostly http, some infrastructure."""
    lines = [
        "stack:",
        "  name: bench",
        "  environment: production",
        "  discovery: static",
        "teams:",
    ]
    for team in range(TEAMS):
        lines += [f"  - name: team-{team}", f'    slack_channel: "#team-{team}"']

    lines.append("services:")
    for index in range(services):
        kind, port = "http", 8000 + index % 1000
        if index % INFRA_EVERY == INFRA_EVERY - 1:
            kind, port = INFRA_KINDS[index // INFRA_EVERY % len(INFRA_KINDS)]
        lines += [
            f"  - name: svc-{index:05d}",
            f"    kind: {kind}",
            f"    team: team-{index % TEAMS}",
            f"    port: {port}",
        ]
        if index % 7 == 0 and kind == "http":
            lines += ["    thresholds:", "      latency_p95_seconds: 0.5"]
    return "\n".join(lines) + "\n"


def measure(services: int) -> dict[str, float]:
    """Render one synthetic inventory in this process and time it."""
    from generator.inventory import load_inventory
    from generator.output import write_output
    from generator.packs import load_packs
    from generator.render import (
        RenderContext,
        default_targets,
        parse_back,
        render_stack,
        source_name,
    )
    from generator.templating import create_environment

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        inventory_path = root / "inventory.yaml"
        inventory_path.write_text(synthetic_inventory(services))
        output = root / "stack"

        started = time.perf_counter()
        inventory = load_inventory(inventory_path, load_packs())
        context = RenderContext(
            inventory, create_environment(), source_name(inventory_path, output)
        )
        files = render_stack(context, default_targets())
        write_output(files, output)
        render_seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        data = {path: parse_back(path, text) for path, text in files.items()}
        floor_seconds = serialise_floor(data, files, root / "floor")

    return {
        "services": services,
        "files": len(files),
        "render_seconds": render_seconds,
        "floor_seconds": floor_seconds,
        "peak_mb": peak_mb,
    }


def serialise_floor(data: dict, files: dict[str, str], folder: Path) -> float:
    """Seconds to write the final data with the fastest plain serialiser, no checks.

    Every structured file is written as compact JSON, which YAML readers accept
    too: PyYAML's own dumper is several times slower, and a floor measured with
    it would flatter the render.
    """
    started = time.perf_counter()
    for path, value in data.items():
        text = files[path] if value is None else json.dumps(value) + "\n"
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.child is not None:
        print(json.dumps(measure(arguments.child)))
        return

    header = f"{'services':>9} {'files':>7} {'render s':>9} {'floor s':>8} "
    print(header + f"{'x floor':>8} {'peak MB':>8} {'us/service':>11}")
    for size in arguments.sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(child.stdout)
        ratio = figures["render_seconds"] / figures["floor_seconds"]
        per_service = figures["render_seconds"] / size * 1e6
        print(
            f"{size:>9} {figures['files']:>7} {figures['render_seconds']:>9.2f} "
            f"{figures['floor_seconds']:>8.2f} {ratio:>8.2f} "
            f"{figures['peak_mb']:>8.0f} {per_service:>11.0f}"
        )


if __name__ == "__main__":
    main()
