"""The jinja2 environment every target renders with.

Templates are looked up in the user's `--templates` folder first, then in the
built-in `templates/` (configs), `rules/` (packs) and `dashboards/` folders. A
missing variable is an error, never an empty string in a config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator.packs import builtin_folder


def create_environment(user_templates: Path | None = None) -> jinja2.Environment:
    builtin = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(builtin_folder("templates")),
            jinja2.PrefixLoader(
                {
                    "rules": jinja2.FileSystemLoader(builtin_folder("rules")),
                    "dashboards": jinja2.FileSystemLoader(builtin_folder("dashboards")),
                }
            ),
        ]
    )
    loaders: list[jinja2.BaseLoader] = [builtin]
    if user_templates is not None:
        # The user's folder mirrors the built-in layout: `prometheus/...` beside
        # `rules/<kind>/...`, so one FileSystemLoader serves both.
        loaders.insert(0, jinja2.FileSystemLoader(user_templates))

    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    environment.filters["quote"] = quote
    environment.filters["to_yaml"] = to_yaml
    return environment


def quote(value: Any) -> str:
    """A scalar as a double-quoted string that YAML and JSON read back unchanged."""
    return json.dumps(str(value), ensure_ascii=False)


def to_yaml(value: Any, indent: int = 0) -> str:
    """A structure as block YAML, indented by `indent` spaces after the first line."""
    text = yaml.safe_dump(
        value, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1000
    ).rstrip("\n")
    return text.replace("\n", "\n" + " " * indent)
