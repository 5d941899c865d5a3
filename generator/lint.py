"""Linting Prometheus rule files, generated or written by hand.

`promtool check rules` says whether a file loads. These checks say whether the
rules in it will serve the people who are paged by them: every alert routed by
`severity` and `team`, explained by `summary`, `description` and a runbook, and
its expressions free of the usual traps (a rate over too short a range, a rate
of something that is not a counter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser

from generator import yamlfile
from generator.errors import InventoryError
from generator.gotemplate import template_problem
from generator.packs import DURATION_PATTERN

SEVERITIES = frozenset({"critical", "warning", "info"})
REQUIRED_LABELS = ("severity", "team")
REQUIRED_ANNOTATIONS = ("summary", "description")
RECOMMENDED_ANNOTATIONS = ("runbook_url",)
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
# postgres_exporter predates the `_total` convention and still names its
# counters from pg_stat_* views as they are.
COUNTER_PREFIXES = ("pg_stat_database_", "pg_stat_bgwriter_")
# A range shorter than four scrapes leaves rate() with too few samples to be
# stable, and with none at all after one missed scrape.
MIN_SCRAPES_PER_RANGE = 4
RULE_KEYS = frozenset(
    {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
)
ALERT_ONLY_KEYS = frozenset({"for", "keep_firing_for", "annotations"})
GROUP_KEYS = frozenset({"name", "interval", "rules", "limit", "query_offset"})
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RECORD_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*(:[a-zA-Z0-9_]+){2,}$")
ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Finding:
    """One thing a rule file should change."""

    file: str
    line: int
    column: int
    severity: str
    code: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity}: "
            f"{self.message} [{self.code}]"
        )


def rule_files(paths: list[Path]) -> list[Path]:
    """The files to lint: each file given, and the YAML files below each folder."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in {".yml", ".yaml"})
        else:
            found.append(path)
    return found


def lint_file(path: Path, *, scrape_interval: timedelta) -> list[Finding]:
    """Every finding in one rule file, in file order."""
    try:
        located = yamlfile.load(path)
    except InventoryError as error:
        return [
            Finding(p.file, p.line, p.column, "error", "yaml", p.message)
            for p in error.problems
        ]

    linter = _FileLinter(located, scrape_interval)
    linter.lint()
    return sorted(linter.findings)


class _FileLinter:
    def __init__(self, located: yamlfile.Located, scrape_interval: timedelta) -> None:
        self.located = located
        self.scrape_interval = scrape_interval
        self.findings: list[Finding] = []

    def report(self, path: Path_, severity: str, code: str, message: str) -> None:
        line, column = self.located.where(path)
        finding = Finding(self.located.file, line, column, severity, code, message)
        self.findings.append(finding)

    def error(self, path: Path_, code: str, message: str) -> None:
        self.report(path, "error", code, message)

    def warn(self, path: Path_, code: str, message: str) -> None:
        self.report(path, "warning", code, message)

    def lint(self) -> None:
        data = self.located.data
        if data is None:
            return  # An empty file holds no rules, as Prometheus sees it too.
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            self.error((), "structure", "expected a mapping with `groups`")
            return

        seen: set[Any] = set()
        for index, group in enumerate(data["groups"]):
            here = ("groups", index)
            if not isinstance(group, dict):
                self.error(here, "structure", "a rule group is a mapping")
                continue
            name = group.get("name")
            if name in seen:
                self.error(
                    (*here, "name"),
                    "group-name",
                    f"rule group {name!r} is defined twice",
                )
            seen.add(name)
            self.lint_group(here, group)

    def lint_group(self, here: Path_, group: dict[str, Any]) -> None:
        for key in sorted(group.keys() - GROUP_KEYS):
            self.error((*here, key), "structure", f"unknown key {key!r}")
        self.lint_durations(here, group, ("interval", "query_offset"))

        rules = group.get("rules")
        if not isinstance(rules, list):
            self.error(here, "structure", "rule group has no `rules` list")
            return
        for index, rule in enumerate(rules):
            path = (*here, "rules", index)
            if not isinstance(rule, dict):
                self.error(path, "structure", "a rule is a mapping")
                continue
            self.lint_rule(path, rule)

    def lint_rule(self, path: Path_, rule: dict[str, Any]) -> None:
        for key in sorted(rule.keys() - RULE_KEYS):
            self.error((*path, key), "structure", f"unknown key {key!r}")

        if ("alert" in rule) == ("record" in rule):
            message = "a rule has exactly one of `alert` and `record`"
            self.error(path, "structure", message)
            return

        self.lint_expr((*path, "expr"), rule.get("expr"))
        self.lint_labels(path, rule)
        if "alert" in rule:
            self.lint_alert(path, rule)
        else:
            self.lint_record(path, rule)

    def lint_alert(self, path: Path_, rule: dict[str, Any]) -> None:
        name = rule["alert"]
        if not isinstance(name, str) or not ALERT_NAME.match(name):
            self.warn(
                (*path, "alert"),
                "alert-name",
                f"alert name {name!r} is not CamelCase",
            )

        labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
        for label in REQUIRED_LABELS:
            if label not in labels:
                self.error(
                    path, "alert-labels", f"alert {name!r} has no {label!r} label"
                )
        severity = labels.get("severity")
        if severity is not None and severity not in SEVERITIES:
            allowed = ", ".join(sorted(SEVERITIES))
            self.error(
                (*path, "labels", "severity"),
                "alert-labels",
                f"severity {severity!r} is not one of {allowed}",
            )

        annotations = rule.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        checks = [(key, self.error) for key in REQUIRED_ANNOTATIONS]
        checks += [(key, self.warn) for key in RECOMMENDED_ANNOTATIONS]
        for key, report in checks:
            if not annotations.get(key):
                message = f"alert {name!r} has no {key!r} annotation"
                report(path, "alert-annotations", message)

        if "for" not in rule:
            self.warn(
                path,
                "alert-for",
                f"alert {name!r} has no `for`: one bad sample pages someone",
            )

    def lint_labels(self, path: Path_, rule: dict[str, Any]) -> None:
        """Label names Prometheus accepts, templates it can expand, durations."""
        self.lint_durations(path, rule, ("for", "keep_firing_for"))
        for section in ("labels", "annotations"):
            values = rule.get(section)
            if not isinstance(values, dict):
                continue
            for name, value in values.items():
                where = (*path, section, name)
                if section == "labels" and not LABEL_NAME.match(name):
                    self.error(where, "label-name", f"{name!r} is not a label name")
                problem = template_problem(str(value))
                if problem:
                    self.error(where, "template", f"{section}.{name}: {problem}")

    def lint_durations(self, path: Path_, item: dict[str, Any], keys) -> None:
        for key in keys:
            value = item.get(key)
            if key in item and not (
                isinstance(value, str) and DURATION_PATTERN.match(value)
            ):
                message = f"`{key}: {value}` is not a duration such as 5m"
                self.error((*path, key), "duration", message)

    def lint_record(self, path: Path_, rule: dict[str, Any]) -> None:
        for key in sorted(rule.keys() & ALERT_ONLY_KEYS):
            message = f"a recording rule has no {key!r}"
            self.error((*path, key), "structure", message)
        name = rule["record"]
        if not isinstance(name, str) or not METRIC_NAME.match(name):
            message = f"recording rule name {name!r} is not a metric name"
            self.error((*path, "record"), "record-name", message)
        elif not RECORD_NAME.match(name):
            self.warn(
                (*path, "record"),
                "record-name",
                f"recording rule {name!r} is not named level:metric:operations",
            )

    def lint_expr(self, path: Path_, expr: Any) -> None:
        if not isinstance(expr, str | int | float) or str(expr).strip() == "":
            self.error(path, "syntax", "rule has no `expr`")
            return
        try:
            tree = promql_parser.parse(str(expr))
        except ValueError as error:
            self.error(path, "syntax", f"expression does not parse: {error}")
            return

        def visit(node: Any) -> None:
            if isinstance(node, promql_parser.Call):
                self.lint_call(path, node)

        promql_parser.walk(tree, pre_visit=visit)

    def lint_call(self, path: Path_, call: promql_parser.Call) -> None:
        function = call.func.name
        if function not in RATE_FUNCTIONS or not call.args:
            return
        argument = call.args[0]
        if not isinstance(argument, promql_parser.MatrixSelector):
            return

        shortest = self.scrape_interval * MIN_SCRAPES_PER_RANGE
        if argument.range < shortest:
            window = promql_parser.display_duration(argument.range)
            minimum = promql_parser.display_duration(shortest)
            message = (
                f"{function}() over {window} sees fewer than {MIN_SCRAPES_PER_RANGE} "
                f"scrapes; use at least {minimum}"
            )
            self.warn(path, "rate-range", message)

        metric = argument.vector_selector.name
        counter = metric.endswith(COUNTER_SUFFIXES) or metric.startswith(
            COUNTER_PREFIXES
        )
        if metric and not counter:
            self.warn(
                path,
                "rate-counter",
                f"{function}() of {metric!r}, which is not named as a counter",
            )
