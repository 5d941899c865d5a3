"""gateway.yml: values kept as typed, every mistake located, secrets by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from alert_gateway.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway" / "gateway.yml"

MINIMAL = """\
database: /tmp/gateway.db
default_channel: "#alerts"
"""

ROTATION = """\
rotations:
  - name: primary-rota
    time_zone: Europe/Madrid
    start: 2026-01-05
    handoff: 09:00
    shift: weekly
    members: {on: U0ON, no: U0NO}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ={}, **kwargs)
    return caught.value.problems


def test_example_config_is_valid(tmp_path):
    secret = tmp_path / "signing"
    secret.write_text("signing-secret\n")
    text = EXAMPLE.read_text().replace("/run/secrets/slack_signing_secret", str(secret))
    environ = {"SLACK_BOT_TOKEN": "xoxb-1", "ALERT_GATEWAY_TOKEN": "hook"}

    config = load_config(_write(tmp_path, text), environ=environ)

    assert config.secret("slack_signing_secret") == "signing-secret"
    assert [rotation.name for rotation in config.rotations] == [
        "platform-oncall",
        "sales-oncall",
    ]


def test_local_example_needs_no_secret_and_stays_on_this_machine():
    local = EXAMPLE.with_name("local.yml")

    config = load_config(local, environ={})

    assert config.listen.host == "127.0.0.1"
    assert config.database == str(local.parent / "local-gateway.db")
    for name in ("slack_bot_token", "slack_signing_secret", "webhook_bearer_token"):
        assert config.secret(name) is None


def test_a_relative_database_is_read_from_the_configuration_folder(tmp_path):
    text = MINIMAL.replace("/tmp/gateway.db", "data/gateway.db")

    config = load_config(_write(tmp_path, text), environ={})

    assert config.database == str(tmp_path / "data" / "gateway.db")


def test_handoff_and_names_stay_as_typed(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL + ROTATION), environ={})

    rotation = config.rotations[0]
    assert rotation.handoff.hour == 9 and rotation.handoff.minute == 0
    assert set(rotation.members) == {"on", "no"}


def test_unknown_keys_are_rejected_with_their_position(tmp_path):
    text = MINIMAL + "slack:\n  base_url: http://x/\n  colour: blue\n"

    assert _problems(tmp_path, text) == [
        f"{tmp_path}/gateway.yml:5:3: slack.colour: unknown key"
    ]


def test_every_problem_is_reported_at_once(tmp_path):
    text = (
        "database: /tmp/g.db\n"
        "listen: {port: 99999}\n"
        "routes:\n"
        "  - matchers: {team: a}\n"
        "    channel: '#a'\n"
        "    team: ghost\n"
    )

    problems = _problems(tmp_path, text)

    name = f"{tmp_path}/gateway.yml"
    assert f"{name}:1:1: default_channel: required key is missing" in problems
    assert any(p.startswith(f"{name}:2:10: listen.port:") for p in problems)
    assert len(problems) == 2  # the unknown team is checked once the shape is right


def test_route_to_an_unknown_team_is_located(tmp_path):
    text = (
        MINIMAL
        + "routes:\n  - matchers: {team: a}\n    channel: '#a'\n    team: ghost\n"
    )

    assert _problems(tmp_path, text) == [
        f"{tmp_path}/gateway.yml:6:5: routes[0].team: no team named 'ghost'"
    ]


def test_errors_inside_a_rotation_point_at_the_field(tmp_path):
    text = MINIMAL + ROTATION.replace("Europe/Madrid", "Mars/Olympus")

    [problem] = _problems(tmp_path, text)

    assert problem.startswith(f"{tmp_path}/gateway.yml:5:5: rotations[0].time_zone:")
    assert "Mars/Olympus" in problem


def test_inline_secret_is_an_error_and_its_value_is_not_repeated(tmp_path):
    text = MINIMAL + "secrets:\n  slack_bot_token: xoxb-very-secret\n"

    [problem] = _problems(tmp_path, text)

    assert problem.startswith(f"{tmp_path}/gateway.yml:4:3: secrets.slack_bot_token:")
    assert "never inline" in problem
    assert "xoxb-very-secret" not in problem


def test_secrets_resolve_from_environment_and_file(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    text = MINIMAL + (
        "secrets:\n"
        "  slack_bot_token: {env: BOT}\n"
        "  webhook_bearer_token: {file: token}\n"
    )

    config = load_config(_write(tmp_path, text), environ={"BOT": "from-env"})

    assert config.secret("slack_bot_token") == "from-env"
    assert config.secret("webhook_bearer_token") == "from-file"
    assert config.secret("slack_signing_secret") is None
    assert "from-env" not in repr(config) + repr(config.resolved_secrets)


def test_missing_secret_sources_are_located(tmp_path):
    text = MINIMAL + (
        "secrets:\n"
        "  slack_bot_token: {env: NOT_SET}\n"
        "  slack_signing_secret: {file: nowhere}\n"
    )

    problems = _problems(tmp_path, text)

    assert problems[0] == (
        f"{tmp_path}/gateway.yml:4:3: secrets.slack_bot_token: "
        "environment variable NOT_SET is not set"
    )
    assert problems[1].startswith(
        f"{tmp_path}/gateway.yml:5:3: secrets.slack_signing_secret:"
    )


def test_an_inline_secret_does_not_hide_a_missing_secret_file(tmp_path):
    text = MINIMAL + (
        "secrets:\n"
        "  slack_bot_token: xoxb-inline\n"
        "  slack_signing_secret: {file: nowhere}\n"
        "routez: []\n"
    )

    problems = _problems(tmp_path, text)

    assert [problem.split(": ")[1] for problem in problems] == [
        "secrets.slack_bot_token",
        "secrets.slack_signing_secret",
        "routez",
    ]
    assert "cannot read secret file" in problems[1]
    assert "xoxb-inline" not in "\n".join(problems)


def test_an_empty_environment_variable_is_said_to_be_empty(tmp_path):
    text = MINIMAL + "secrets:\n  slack_bot_token: {env: BOT}\n"

    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ={"BOT": ""})

    assert caught.value.problems == [
        f"{tmp_path}/gateway.yml:4:3: secrets.slack_bot_token: "
        "environment variable BOT is empty"
    ]


def test_yaml_syntax_error_is_located(tmp_path):
    [problem] = _problems(tmp_path, MINIMAL + "routes: [\n")

    assert problem.startswith(f"{tmp_path}/gateway.yml:")
    assert "not valid YAML" in problem


def test_duplicate_keys_are_errors(tmp_path):
    [problem] = _problems(tmp_path, MINIMAL + 'default_channel: "#other"\n')

    assert problem == (
        f"{tmp_path}/gateway.yml:3:1: default_channel: duplicate key 'default_channel'"
    )


def test_yaml_1_1_booleans_and_octals_are_not_guessed(tmp_path):
    text = (
        MINIMAL
        + "escalation:\n  severities: [yes, on, critical]\n  after_minutes: 010\n"
    )

    config = load_config(_write(tmp_path, text), environ={})

    assert config.escalation.severities == ["yes", "on", "critical"]
    assert config.escalation.after_minutes == 10
