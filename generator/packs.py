"""Rule packs: what obsgen knows about each kind of service.

A pack is a folder `rules/<kind>/` holding `pack.yml` (how a service of that kind
is scraped, its exporter, and its alert thresholds with their defaults) and the
templates that render its rules. Adding a kind means adding a folder, here or in
a `--templates` folder, and no code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator import yamlfile
from generator.errors import InventoryError, PackError


def builtin_folder(name: str) -> Path:
    """A folder shipped with obsgen: `templates`, `rules` or `dashboards`.

    They sit at the top of the source tree and inside the package once
    installed; the import system knows where either way.
    """
    return Path(str(resources.files(f"generator.{name}")))


KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
DURATION_PATTERN = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")

Threshold = float | int | str


class Exporter(BaseModel):
    """A separate exporter container that reaches the service and exposes metrics."""

    model_config = ConfigDict(extra="forbid")

    image: str
    port: int = Field(ge=1, le=65535)
    environment: dict[str, str] = Field(default_factory=dict)
    command: list[str] = Field(default_factory=list)


class Scrape(BaseModel):
    """How Prometheus reaches a service of this kind when the inventory says nothing."""

    model_config = ConfigDict(extra="forbid")

    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = "/metrics"
    params: dict[str, list[str]] = Field(default_factory=dict)


class PackMeta(BaseModel):
    """The contents of a pack's `pack.yml`."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    title: str
    description: str = ""
    scrape: Scrape = Field(default_factory=Scrape)
    exporter: Exporter | None = None
    health_checks: bool = False
    thresholds: dict[str, Threshold] = Field(default_factory=dict)


@dataclass(frozen=True)
class Pack:
    """A loaded pack: its metadata and the folder its templates live in."""

    meta: PackMeta
    directory: Path
    template_prefix: str
    templates: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        return self.meta.kind

    def threshold_is_duration(self, name: str) -> bool:
        default = self.meta.thresholds[name]
        return isinstance(default, str)


def rule_roots(user_templates: Path | None) -> list[Path]:
    """Folders that may hold packs, the user's first so theirs win."""
    roots = []
    if user_templates is not None:
        roots.append(user_templates / "rules")
    roots.append(builtin_folder("rules"))
    return roots


def load_packs(user_templates: Path | None = None) -> dict[str, Pack]:
    """Every pack by kind; a user's pack replaces a built-in one of the same kind."""
    packs: dict[str, Pack] = {}
    for root in rule_roots(user_templates):
        if not root.is_dir():
            continue
        for meta_file in sorted(root.glob("*/pack.yml")):
            pack = _load_pack(meta_file)
            packs.setdefault(pack.kind, pack)
    return packs


def _load_pack(meta_file: Path) -> Pack:
    directory = meta_file.parent

    try:
        located = yamlfile.load(meta_file)
        meta = PackMeta.model_validate(located.data)
    except InventoryError as error:
        raise PackError(str(error)) from None
    except ValidationError as error:
        first = error.errors()[0]
        path = tuple(first["loc"])
        raise PackError(str(located.problem(path, first["msg"]))) from None

    if meta.kind != directory.name or not KIND_PATTERN.match(meta.kind):
        message = f"kind {meta.kind!r} must match its folder name {directory.name!r}"
        raise PackError(f"{meta_file}:1:1: kind: {message}")

    templates = tuple(sorted(p.name for p in directory.glob("*.j2")))
    return Pack(meta, directory, f"rules/{meta.kind}", templates)


def threshold_problem(pack: Pack, name: str, value: Any) -> str | None:
    """Why `value` cannot stand for threshold `name` of `pack`, or None when it can."""
    if name not in pack.meta.thresholds:
        known = ", ".join(sorted(pack.meta.thresholds)) or "none"
        return f"unknown threshold for kind {pack.kind!r} (known: {known})"
    if pack.threshold_is_duration(name):
        if not isinstance(value, str) or not DURATION_PATTERN.match(value):
            return f"expected a duration such as '5m', got {value!r}"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a number, got {value!r}"
    # Every numeric threshold is a limit, a rate or a share of something: zero
    # or less would make its alert fire always, or divide by zero.
    if value <= 0:
        return f"expected a number above 0, got {value!r}"
    if name.endswith("_ratio") and value > 1:
        return f"a ratio is at most 1 (1 means 100%), got {value!r}"
    return None
