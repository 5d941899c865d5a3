"""Reading YAML with every value's position, and without YAML 1.1's surprises.

PyYAML resolves plain scalars by YAML 1.1 rules: `22:22` becomes the base-60
number 1342, `0123` an octal 83, and `on`, `no` or `y` booleans. An inventory
must keep what its author typed, so plain scalars are resolved here by a
narrow rule set close to YAML 1.2's core schema, and anything ambiguous stays
a string for the model to accept or reject with a located error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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


def loads(text: str, name: str) -> Located:
    """Parse one YAML document held in `text`; `name` is used in messages."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"not valid YAML: {error.problem or error.context}"
        raise InventoryError([Problem(name, line, column, "", message)]) from None

    located = Located(name, None)
    problems: list[Problem] = []
    if node is not None:
        located.data = _build(node, (), located, problems)
    if problems:
        raise InventoryError(problems)
    return located


def _build(node: yaml.Node, path: Path_, located: Located, problems: list[Problem]):
    located.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)

    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, path, located, problems)
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, index), located, problems)
            for index, item in enumerate(node.value)
        ]
    return _scalar(node)


def _build_mapping(node, path, located, problems) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == (
            "tag:yaml.org,2002:merge"
        ):
            problems.append(
                Problem(located.file, line, column, dotted(path), "keys must be text")
            )
            continue

        key = key_node.value
        child = (*path, key)
        if key in mapping:
            message = f"duplicate key {key!r}"
            problems.append(Problem(located.file, line, column, dotted(child), message))
            continue

        mapping[key] = _build(value_node, child, located, problems)
        # A key's own position reads better in messages than its value's.
        located.marks[child] = (line, column)
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
