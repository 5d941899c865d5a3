"""Placeholder for the alertmanager target: renders nothing yet."""

from __future__ import annotations

from typing import Any

from generator.render import Files, RenderContext


def render(context: RenderContext) -> Files:
    return {}


def check(files: Files, parsed: dict[str, Any]) -> None:
    return None
