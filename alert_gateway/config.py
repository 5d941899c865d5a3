"""The gateway's configuration file (gateway.yml): its model, loading and secrets.

It is read like an inventory (`generator.yamlfile`): `handoff: 09:00` stays the
text "09:00" and `on` stays a word, and every mistake is reported at once as
`file:line:column: field.path: message`.
Secrets are references (`{env: NAME}` or `{file: PATH}`) resolved when the
configuration is loaded; their values never appear in a repr or a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from generator import yamlfile
from generator.errors import InventoryError, Problem

Location = tuple[str | int, ...]


class ConfigError(Exception):
    """Raised when gateway.yml cannot be read, parsed, validated or resolved."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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

    document = _parse(text, name)
    config, problems = _check(document)
    resolved = ResolvedSecrets()
    if resolve_secrets:
        # Secrets are looked up even when the rest is wrong, so that one run
        # reports a missing secret file together with a typo elsewhere.
        refs = _secret_refs(document.data)
        resolved, missing = _resolve_secrets(refs, path.parent, environ or os.environ)
        problems += [document.problem(loc, msg) for loc, msg in missing]
    if problems or config is None:
        problems.sort(key=lambda problem: (problem.line, problem.column))
        raise ConfigError([str(problem) for problem in problems])
    config = _database_beside(config, path.parent)
    return config.with_secrets(resolved) if resolve_secrets else config


def _database_beside(config: GatewayConfig, base: Path) -> GatewayConfig:
    # A relative database path is read from the configuration's folder, like a
    # secret file, so that the gateway finds the same file from any folder.
    database = Path(config.database)
    if config.database == ":memory:" or database.is_absolute():
        return config
    return config.model_copy(update={"database": str(base / database)})


def parse_config(text: str, name: str = "gateway.yml") -> GatewayConfig:
    """Validate configuration text without resolving its secrets."""
    config, problems = _check(_parse(text, name))
    if problems or config is None:
        raise ConfigError([str(problem) for problem in problems])
    return config


def _parse(text: str, name: str) -> yamlfile.Located:
    try:
        return yamlfile.loads(text, name)
    except InventoryError as error:
        raise ConfigError([str(problem) for problem in error.problems]) from None


def _check(document: yamlfile.Located) -> tuple[GatewayConfig | None, list[Problem]]:
    """The validated configuration, or None, and every problem found in it."""
    if not isinstance(document.data, dict):
        return None, [document.problem((), "expected a mapping of settings")]
    try:
        config = GatewayConfig.model_validate(document.data)
    except ValidationError as error:
        return None, list(document.validation_problems(error))
    problems = [document.problem(loc, msg) for loc, msg in _cross_check(config)]
    return config, problems


def _secret_refs(data: Any) -> dict[str, SecretRef]:
    """The well-formed secret references of a document, whatever else is wrong."""
    section = data.get("secrets") if isinstance(data, Mapping) else None
    refs = {}
    for field_name in Secrets.model_fields:
        value = section.get(field_name) if isinstance(section, Mapping) else None
        try:
            refs[field_name] = SecretRef.model_validate(value)
        except ValidationError:
            continue  # absent, or reported by the validation already
    return refs


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
    refs: Mapping[str, SecretRef], base: Path, environ: Mapping[str, str]
) -> tuple[ResolvedSecrets, list[tuple[Location, str]]]:
    values: dict[str, SecretStr] = {}
    problems: list[tuple[Location, str]] = []
    for field_name, ref in refs.items():
        loc: Location = ("secrets", field_name)
        if ref.env is not None:
            value = environ.get(ref.env)
            if value is None:
                problems.append((loc, f"environment variable {ref.env} is not set"))
                continue
            if not value.strip():
                problems.append((loc, f"environment variable {ref.env} is empty"))
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
