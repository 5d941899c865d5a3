"""Reading YAML with every value's position, and without YAML 1.1's surprises.

PyYAML resolves plain scalars by YAML 1.1 rules: `22:22` becomes the base-60
number 1342, `0123` an octal 83, and `on`, `no` or `y` booleans. An inventory
must keep what its author typed, so plain scalars are resolved here by a
narrow rule set close to YAML 1.2's core schema, and anything ambiguous stays
a string for the model to accept or reject with a located error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from generator.errors import InventoryError, Problem

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
# Leading zeros are left out on purpose: `0123` stays the string "0123".
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)?\.[0-9]+(?:[eE][-+]?[0-9]+)?$")

Path_ = tuple[str | int, ...]

# Far above any real inventory: 10,000 services take about 50,000 values.
MAX_VALUES = 1_000_000
_STANDARD_TAG = "tag:yaml.org,2002:"


@dataclass
class Located:
    """A parsed document and the line and column (1-based) of each value."""

    file: str
    data: Any
    marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that has one."""
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, (1, 1))

    def problem(self, path: Path_, message: str) -> Problem:
        line, column = self.where(path)
        return Problem(self.file, line, column, dotted(path), message)

    def validation_problems(
        self, error: ValidationError, pattern_help: Mapping[str, str] | None = None
    ) -> list[Problem]:
        """pydantic's errors about this document, each at its place, in our words."""
        return [
            self.problem(
                _document_path(detail["loc"]), _say(detail, pattern_help or {})
            )
            for detail in error.errors()
        ]


def _document_path(loc: tuple[Any, ...]) -> Path_:
    # pydantic adds the names of the validators and union members it tried, and
    # `[key]` for a mapping's keys; none of them is part of the document's path.
    return tuple(
        part
        for part in loc
        if isinstance(part, int) or not _VALIDATOR_STEP.search(part)
    )


_VALIDATOR_STEP = re.compile(r"[\[\]()]|^(constrained-|function-)|^(str|int|float)$")

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _say(detail: Mapping[str, Any], pattern_help: Mapping[str, str]) -> str:
    kind = detail["type"]
    value = detail.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if value is None:
        return "has no value (an unquoted # starts a comment: quote values with #)"
    if kind == "string_pattern_mismatch":
        pattern = detail["ctx"]["pattern"]
        return f"{value!r} is not {pattern_help.get(pattern, 'allowed here')}"
    if kind == "string_type" and isinstance(value, int | float):
        return f"expected text, got {value!r} (quote it to keep it as text)"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {value!r}"

    message = str(detail["msg"]).removeprefix("Value error, ")
    message = message.replace("Input should be", "expected")
    # A validator's own message says what is wrong; the value it refused may be
    # a secret written inline, so it is not repeated.
    custom = kind in {"value_error", "assertion_error"}
    if (
        not custom
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
    ):
        message += f", got {value!r}"
    return message[:1].lower() + message[1:]


def dotted(path: Path_) -> str:
    """`('services', 3, 'port')` as `services[3].port`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def load(path: Path) -> Located:
    """Parse one YAML document from `path`; InventoryError when it is not YAML."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        problem = Problem(name, 1, 1, "", f"cannot read file: {error.strerror}")
        raise InventoryError([problem]) from None
    except UnicodeDecodeError:
        raise InventoryError([Problem(name, 1, 1, "", "not UTF-8 text")]) from None

    return loads(text, name)


def loads(text: str, name: str, *, max_values: int = MAX_VALUES) -> Located:
    """Parse one YAML document held in `text`; `name` is used in messages."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"not valid YAML: {error.problem or error.context}"
        raise InventoryError([Problem(name, line, column, "", message)]) from None

    located = Located(name, None)
    builder = _Builder(located, max_values)
    if node is not None:
        located.data = builder.build(node, ())
    if builder.problems:
        raise InventoryError(builder.problems)
    return located


class _Builder:
    """Turns composed nodes into plain values, recording where each one stands."""

    def __init__(self, located: Located, max_values: int) -> None:
        self.located = located
        self.max_values = max_values
        self.problems: list[Problem] = []
        self.values = 0
        # Nodes being built right now: an alias to one of them is a cycle.
        self.active: set[int] = set()

    def report(self, node: yaml.Node, path: Path_, message: str) -> None:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        self.problems.append(
            Problem(self.located.file, line, column, dotted(path), message)
        )

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.located.marks[path] = (
            node.start_mark.line + 1,
            node.start_mark.column + 1,
        )
        self.values += 1
        if self.values > self.max_values:
            # Aliases can make a small file stand for billions of values.
            if self.values == self.max_values + 1:
                limit = self.max_values
                message = f"more than {limit:,} values once aliases are expanded"
                self.report(node, path, message)
            return None
        if not node.tag.startswith(_STANDARD_TAG):
            self.report(node, path, f"YAML tag {node.tag!r} is not supported")
            return None
        if id(node) in self.active:
            self.report(node, path, "an alias refers to a value that contains it")
            return None

        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.build_mapping(node, path)
            return [
                self.build(item, (*path, index))
                for index, item in enumerate(node.value)
            ]
        finally:
            self.active.discard(id(node))

    def build_mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == (
                "tag:yaml.org,2002:merge"
            ):
                self.report(key_node, path, "keys must be text")
                continue

            key = key_node.value
            child = (*path, key)
            if key in mapping:
                self.report(key_node, child, f"duplicate key {key!r}")
                continue

            mapping[key] = self.build(value_node, child)
            # A key's own position reads better in messages than its value's.
            line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            self.located.marks[child] = (line, column)
        return mapping


def _scalar(node: yaml.ScalarNode) -> Any:
    text = node.value
    if node.style not in (None, ""):
        return text
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text
