"""Checks of the Prometheus files obsgen renders, run before anything is written.

promtool is the final judge, in the tests; these checks run on every render and
catch what a template or an inventory value could break: rules that do not
parse, alerts without their routing labels and links, template actions
Prometheus would not expand, durations it would not read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import promql_parser

from generator.errors import RenderError
from generator.gotemplate import template_problem
from generator.render import Files

CONFIG = "prometheus/prometheus.yml"
RULES_DIR = "prometheus/rules"
TARGETS_DIR = "prometheus/targets"

SEVERITIES = ("critical", "warning", "info")
ALERT_LABELS = ("severity", "team", "service")
ALERT_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")
ZERO_DURATION = re.compile(r"0|(?:0+(?:ms|s|m|h|d|w|y))+")


# Checks --------------------------------------------------------------------


def check_stack(files: Files, parsed: Mapping[str, Any]) -> None:
    """Raise RenderError when a rendered Prometheus file is not as obsgen means it."""
    config = parsed.get(CONFIG)
    if config is None:
        return
    _check_config(config)
    group_names: dict[str, str] = {}
    for path in sorted(files):
        if path.startswith(f"{RULES_DIR}/"):
            _check_rule_file(path, parsed[path], group_names)
        elif path.startswith(f"{TARGETS_DIR}/"):
            _check_targets(path, parsed[path])


def _check_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise RenderError(f"{CONFIG}: expected a mapping")
    for key in ("global", "rule_files", "alerting", "scrape_configs"):
        if key not in config:
            raise RenderError(f"{CONFIG}: missing {key}")
    seen: set[str] = set()
    for job in config["scrape_configs"]:
        name = job.get("job_name")
        if name in seen:
            raise RenderError(f"{CONFIG}: job_name {name!r} appears twice")
        seen.add(name)


def _check_rule_file(path: str, document: Any, group_names: dict[str, str]) -> None:
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise RenderError(f"{path}: expected a mapping with a list of groups")
    for group in document["groups"]:
        name = group.get("name")
        if name in group_names:
            raise RenderError(f"{path}: group {name!r} also in {group_names[name]}")
        group_names[name] = path
        for index, rule in enumerate(group.get("rules") or []):
            where = f"{path}: group {name!r} rule {index}"
            _check_rule(where, rule)


def _check_rule(where: str, rule: Any) -> None:
    if not isinstance(rule, dict) or ("alert" in rule) == ("record" in rule):
        raise RenderError(f"{where}: a rule has exactly one of 'alert' and 'record'")
    where = f"{where} ({rule.get('alert') or rule.get('record')})"
    try:
        promql_parser.parse(str(rule.get("expr", "")))
    except ValueError as error:
        raise RenderError(f"{where}: expr does not parse: {error}") from None
    if "record" in rule:
        return

    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    missing = [name for name in ALERT_LABELS if not labels.get(name)]
    missing += [name for name in ALERT_ANNOTATIONS if not annotations.get(name)]
    if missing:
        raise RenderError(f"{where}: missing {', '.join(missing)}")
    if labels["severity"] not in SEVERITIES:
        raise RenderError(f"{where}: severity {labels['severity']!r} is not allowed")
    if "for" in rule and not is_duration(str(rule["for"])):
        raise RenderError(f"{where}: 'for' is not a duration")
    for section, values in (("label", labels), ("annotation", annotations)):
        for name, value in values.items():
            if problem := template_problem(str(value)):
                raise RenderError(f"{where}: {section} {name}: {problem}")


def is_duration(text: str) -> bool:
    """Whether Prometheus reads `text` as a duration.

    promql_parser refuses zero, which Prometheus takes: `for: 0s` fires on the
    first evaluation that matches.
    """
    if ZERO_DURATION.fullmatch(text):
        return True
    try:
        promql_parser.parse_duration(text)
    except ValueError:
        return False
    return True


def _check_targets(path: str, groups: Any) -> None:
    for group in groups if isinstance(groups, list) else [None]:
        if not isinstance(group, dict) or not group.get("targets"):
            raise RenderError(f"{path}: every entry needs targets and labels")
        missing = [n for n in ("service", "team") if n not in group.get("labels", {})]
        if missing:
            raise RenderError(
                f"{path}: {group['targets'][0]} lacks {', '.join(missing)}"
            )
