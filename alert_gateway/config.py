"""The gateway's configuration file (gateway.yml): its model, loading and secrets.

Values are read by YAML 1.2 core rules so that `handoff: 09:00` stays the text
"09:00" and `on` stays a word; every value keeps its line and column, so that a
mistake is reported as `file:line:column: field.path: message`, all at once.
Secrets are references (`{env: NAME}` or `{file: PATH}`) resolved when the
configuration is loaded; their values never appear in a repr or a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from alert_gateway.oncall import Rotation

Location = tuple[str | int, ...]


class ConfigError(Exception):
    """Raised when gateway.yml cannot be read, parsed, validated or resolved."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Yaml12Loader(yaml.SafeLoader):
    """A safe loader that resolves plain scalars by YAML 1.2's core schema only."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        # SafeLoader would read a leading zero as octal; YAML 1.2 does not.
        text = str(self.construct_scalar(node)).lower()
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _Yaml12Loader.construct_yaml_int)
_RESOLVERS = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
]
for _tag, _pattern, _first in _RESOLVERS:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
# The empty plain scalar (`key:` with nothing after it) has no first character.
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret comes from: an environment variable or a file, never inline."""

    env: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _reference_only(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(
                "a secret is written as {env: NAME} or {file: PATH}, never inline"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


class Secrets(_Strict):
    slack_bot_token: SecretRef | None = None
    slack_signing_secret: SecretRef | None = None
    webhook_bearer_token: SecretRef | None = None


class Listen(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=9095, ge=1, le=65535)


class SlackSettings(_Strict):
    base_url: str = "https://slack.com/api/"
    min_interval_per_channel_seconds: float = Field(default=1.0, ge=0)
    retry_initial_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)


class Route(_Strict):
    """Label matchers (all must be equal) leading to a channel and a team's rotation."""

    matchers: dict[str, str] = Field(min_length=1)
    channel: str = Field(min_length=1)
    team: str | None = None


class Team(_Strict):
    name: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    rotation: str | None = None


class Escalation(_Strict):
    """Paging severities mention the primary, and the secondary when unanswered."""

    after_minutes: PositiveFloat = 15
    severities: list[str] = Field(default_factory=lambda: ["critical"])
    repeat: bool = False


@dataclass(frozen=True)
class ResolvedSecrets:
    """The secrets' values, read once at start; repr shows only whether each is set."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    webhook_bearer_token: SecretStr | None = None


class GatewayConfig(_Strict):
    """The whole of gateway.yml."""

    database: str = Field(min_length=1)
    listen: Listen = Field(default_factory=Listen)
    alertmanager_url: str | None = None
    public_url: str | None = None
    secrets: Secrets = Field(default_factory=Secrets)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    default_channel: str = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    rotations: list[Rotation] = Field(default_factory=list)
    escalation: Escalation = Field(default_factory=Escalation)

    _resolved: ResolvedSecrets = PrivateAttr(default_factory=ResolvedSecrets)

    @property
    def resolved_secrets(self) -> ResolvedSecrets:
        return self._resolved

    def secret(self, name: str) -> str | None:
        """The value of secret `name`, or None when the file does not configure it."""
        value: SecretStr | None = getattr(self._resolved, name)
        return None if value is None else value.get_secret_value()

    def team(self, name: str | None) -> Team | None:
        return next((team for team in self.teams if team.name == name), None)

    def rotation(self, name: str | None) -> Rotation | None:
        return next((rot for rot in self.rotations if rot.name == name), None)

    def with_secrets(self, resolved: ResolvedSecrets) -> GatewayConfig:
        """This configuration carrying resolved secret values."""
        copy = self.model_copy()
        copy._resolved = resolved
        return copy


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> GatewayConfig:
    """Read, validate and resolve gateway.yml; ConfigError lists every problem."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError([f"{name}:1:1: cannot read file: {reason}"]) from None

    data, marks = _parse(text, name)
    config = _validate(data, marks, name)
    if not resolve_secrets:
        return config
    resolved = _resolve_secrets(config.secrets, path.parent, environ or os.environ)
    problems = [_located(name, marks, loc, msg) for loc, msg in resolved[1]]
    if problems:
        raise ConfigError(problems)
    return config.with_secrets(resolved[0])


def parse_config(text: str, name: str = "gateway.yml") -> GatewayConfig:
    """Validate configuration text without resolving its secrets."""
    data, marks = _parse(text, name)
    return _validate(data, marks, name)


def _parse(text: str, name: str) -> tuple[Any, dict[Location, tuple[int, int]]]:
    loader = _Yaml12Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context
        raise ConfigError(
            [f"{name}:{line}:{column}: not valid YAML: {problem}"]
        ) from None
    finally:
        loader.dispose()

    marks: dict[Location, tuple[int, int]] = {}
    problems: list[str] = []
    data = _build(loader, node, (), marks, problems, name) if node is not None else None
    if problems:
        raise ConfigError(problems)
    return data, marks


def _build(loader, node, path: Location, marks, problems, name) -> Any:
    marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, index), marks, problems, name)
            for index, item in enumerate(node.value)
        ]
    if not isinstance(node, yaml.MappingNode):
        return loader.construct_object(node)

    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        where = (
            f"{name}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}"
        )
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or key_node.tag == "tag:yaml.org,2002:merge":
            problems.append(f"{where}: {_dotted(path)}: keys must be plain text")
            continue
        if key in mapping:
            problems.append(f"{where}: {_dotted((*path, key))}: duplicate key")
            continue
        # The key's position reads better in messages than the value's.
        marks[(*path, key)] = (
            key_node.start_mark.line + 1,
            key_node.start_mark.column + 1,
        )
        mapping[key] = _build(loader, value_node, (*path, key), marks, problems, name)
    return mapping


def _validate(data: Any, marks, name: str) -> GatewayConfig:
    if not isinstance(data, dict):
        raise ConfigError([f"{name}:1:1: the file must hold a mapping of settings"])
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as error:
        problems = [
            _located(name, marks, _clean_loc(item["loc"]), _message(item))
            for item in error.errors()
        ]
        raise ConfigError(problems) from None

    problems = [_located(name, marks, loc, msg) for loc, msg in _cross_check(config)]
    if problems:
        raise ConfigError(problems)
    return config


def _cross_check(config: GatewayConfig) -> list[tuple[Location, str]]:
    problems: list[tuple[Location, str]] = []
    rotations = {rotation.name for rotation in config.rotations}
    teams = {team.name for team in config.teams}

    for index, team in enumerate(config.teams):
        if team.rotation is not None and team.rotation not in rotations:
            where = ("teams", index, "rotation")
            problems.append((where, f"no rotation named {team.rotation!r}"))
    for index, route in enumerate(config.routes):
        if route.team is not None and route.team not in teams:
            problems.append(
                (("routes", index, "team"), f"no team named {route.team!r}")
            )
    for kind, names in (
        ("teams", [t.name for t in config.teams]),
        ("rotations", [r.name for r in config.rotations]),
    ):
        seen: set[str] = set()
        for index, item in enumerate(names):
            if item in seen:
                problems.append(((kind, index, "name"), f"duplicate name {item!r}"))
            seen.add(item)
    return problems


def _resolve_secrets(
    secrets: Secrets, base: Path, environ: Mapping[str, str]
) -> tuple[ResolvedSecrets, list[tuple[Location, str]]]:
    values: dict[str, SecretStr] = {}
    problems: list[tuple[Location, str]] = []
    for field_name in Secrets.model_fields:
        ref: SecretRef | None = getattr(secrets, field_name)
        if ref is None:
            continue
        loc: Location = ("secrets", field_name)
        if ref.env is not None:
            value = environ.get(ref.env)
            if not value:
                problems.append((loc, f"environment variable {ref.env} is not set"))
                continue
        else:
            file = Path(str(ref.file))
            file = file if file.is_absolute() else base / file
            try:
                value = file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as error:
                reason = getattr(error, "strerror", None) or "not UTF-8 text"
                problems.append((loc, f"cannot read secret file {file}: {reason}"))
                continue
            if not value:
                problems.append((loc, f"secret file {file} is empty"))
                continue
        values[field_name] = SecretStr(value)
    return ResolvedSecrets(**values), problems


def _clean_loc(loc: tuple[Any, ...]) -> Location:
    # Validators of unions and wrapped types add their own names to a location.
    return tuple(
        part
        for part in loc
        if isinstance(part, int) or not re.search(r"[\[\]()]|^function-", str(part))
    )


def _message(item: Mapping[str, Any]) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown key"
    if item["type"] == "missing":
        return "required"
    return str(item["msg"]).removeprefix("Value error, ")


def _located(name: str, marks, loc: Location, message: str) -> str:
    path = loc
    while path and path not in marks:
        path = path[:-1]
    line, column = marks.get(path, (1, 1))
    field = _dotted(loc)
    return (
        f"{name}:{line}:{column}: {field}: {message}"
        if field
        else (f"{name}:{line}:{column}: {message}")
    )


def _dotted(loc: Location) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")
