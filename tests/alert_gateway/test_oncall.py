"""Rotation maths: overrides, nobody on call, refused input, and validation."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest
from pydantic import ValidationError

from alert_gateway.oncall import (
    NaiveDatetimeError,
    OutOfRangeError,
    Rotation,
    on_call,
    schedule,
)
from tests.alert_gateway.rotations import (
    fields,
    override,
    primary_shifts,
    rotation,
    utc,
)

# Overrides


def test_override_replaces_the_person_and_clips_the_shift_around_it() -> None:
    subject = rotation(
        overrides=[override("2026-03-27T14:00:00+01:00", "2026-03-27T18:00:00+01:00")]
    )

    shifts = primary_shifts(subject, utc(2026, 3, 27, 8), utc(2026, 3, 28, 8))
    during = on_call(subject, utc(2026, 3, 27, 15))

    assert [(entry.member, entry.start, entry.end) for entry in shifts] == [
        ("alice", utc(2026, 3, 27, 8), utc(2026, 3, 27, 13)),
        ("carol", utc(2026, 3, 27, 13), utc(2026, 3, 27, 17)),
        ("alice", utc(2026, 3, 27, 17), utc(2026, 3, 28, 8)),
    ]
    assert during and during.slack_id == "U0CAROL"
    assert on_call(subject, utc(2026, 3, 27, 15), layer="secondary").member == "bob"


def test_override_across_a_handoff_is_one_piece_and_the_rotation_resumes() -> None:
    subject = rotation(
        overrides=[override("2026-03-27T20:00:00Z", "2026-03-28T20:00:00Z")]
    )

    shifts = primary_shifts(subject, utc(2026, 3, 27, 8), utc(2026, 3, 29, 7))

    assert [(entry.member, entry.start, entry.end) for entry in shifts] == [
        ("alice", utc(2026, 3, 27, 8), utc(2026, 3, 27, 20)),
        ("carol", utc(2026, 3, 27, 20), utc(2026, 3, 28, 20)),
        ("bob", utc(2026, 3, 28, 20), utc(2026, 3, 29, 7)),
    ]


def test_later_override_wins_where_two_overlap() -> None:
    subject = rotation(
        overrides=[
            override("2026-03-27T10:00:00Z", "2026-03-27T16:00:00Z", member="bob"),
            override("2026-03-27T12:00:00Z", "2026-03-27T14:00:00Z", member="carol"),
        ]
    )

    shifts = primary_shifts(subject, utc(2026, 3, 27, 8), utc(2026, 3, 28, 8))

    assert [(entry.member, entry.start, entry.end) for entry in shifts] == [
        ("alice", utc(2026, 3, 27, 8), utc(2026, 3, 27, 10)),
        ("bob", utc(2026, 3, 27, 10), utc(2026, 3, 27, 12)),
        ("carol", utc(2026, 3, 27, 12), utc(2026, 3, 27, 14)),
        ("bob", utc(2026, 3, 27, 14), utc(2026, 3, 27, 16)),
        ("alice", utc(2026, 3, 27, 16), utc(2026, 3, 28, 8)),
    ]


def test_override_before_the_rotation_starts_still_applies() -> None:
    subject = rotation(
        overrides=[
            override("2026-03-26T00:00:00Z", "2026-03-26T06:00:00Z", member="bob")
        ]
    )

    shifts = primary_shifts(subject, utc(2026, 3, 25), utc(2026, 3, 27, 9))

    assert [(entry.member, entry.start) for entry in shifts] == [
        ("bob", utc(2026, 3, 26)),
        ("alice", utc(2026, 3, 27, 8)),
    ]


# Nobody on call


def test_nobody_is_on_call_before_the_first_handoff() -> None:
    assert on_call(rotation(), utc(2026, 3, 27, 7, 59)) is None


def test_rotation_without_members_is_valid_and_has_nobody_on_call() -> None:
    subject = rotation(members={}, layers=[])

    assert on_call(subject, utc(2026, 6, 1)) is None
    assert schedule(subject, utc(2026, 6, 1), utc(2026, 7, 1)) == []


def test_unknown_layer_has_nobody_on_call() -> None:
    assert on_call(rotation(), utc(2026, 6, 1), layer="tertiary") is None


def test_layer_with_empty_order_has_nobody_but_its_overrides() -> None:
    subject = rotation(
        layers=[{"name": "primary", "order": []}],
        overrides=[override("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z")],
    )

    shifts = schedule(subject, utc(2026, 5, 1), utc(2026, 7, 1))

    assert on_call(subject, utc(2026, 6, 3)) is None
    assert [(entry.member, entry.start, entry.end) for entry in shifts] == [
        ("carol", utc(2026, 6, 1), utc(2026, 6, 2))
    ]


def test_layers_default_to_one_primary_layer_in_member_order() -> None:
    values = fields()
    del values["layers"]

    subject = Rotation.model_validate(values)

    assert [layer.name for layer in subject.layers] == ["primary"]
    assert subject.layers[0].order == ["alice", "bob", "carol"]


@pytest.mark.parametrize(
    "call",
    [
        lambda subject: on_call(subject, datetime(2026, 6, 1)),
        lambda subject: schedule(subject, datetime(2026, 6, 1), utc(2026, 7, 1)),
        lambda subject: schedule(subject, utc(2026, 6, 1), datetime(2026, 7, 1)),
    ],
)
def test_naive_datetimes_are_refused(call: Any) -> None:
    with pytest.raises(NaiveDatetimeError, match="timezone-aware"):
        call(rotation())
    assert issubclass(NaiveDatetimeError, ValueError)


@pytest.mark.parametrize("year", [1, 1899, 9000, 9999])
def test_instants_far_outside_any_rotation_are_refused(year: int) -> None:
    with pytest.raises(OutOfRangeError, match="between 1900 and 8999"):
        on_call(rotation(), utc(year, 6, 1))
    assert on_call(rotation(), utc(8999, 12, 31, 23)) is not None


# Validation


def error_for(**changes: Any) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        rotation(**changes)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


@pytest.mark.parametrize(
    ("changes", "loc", "words"),
    [
        ({"time_zone": "Europe/Madird"}, ("time_zone",), "Europe/Madird"),
        ({"time_zone": "../etc/passwd"}, ("time_zone",), "unknown IANA time zone"),
        ({"shift": "0h"}, ("shift",), "from 1 to 8784"),
        ({"shift": "9000h"}, ("shift",), "from 1 to 8784"),
        ({"start": "0026-01-05"}, ("start",), "out of range"),
        ({"shift": "fortnightly"}, ("shift",), "daily, weekly or '<N>h'"),
        ({"shift": "-3h"}, ("shift",), "daily, weekly or '<N>h'"),
        ({"handoff": 540}, ("handoff",), "HH:MM"),
        ({"handoff": "25:00"}, ("handoff",), "HH:MM"),
        ({"start": "2026-13-01"}, ("start",), "date"),
        ({"start": datetime(2026, 1, 5, 9)}, ("start",), "without a time"),
        ({"members": {"alice": "alice"}, "layers": []}, ("members",), "Slack user"),
        (
            {"layers": [{"name": "primary", "order": ["alice", "dave"]}]},
            ("layers",),
            "unknown member 'dave'",
        ),
        (
            {"layers": [{"name": "primary"}, {"name": "primary"}]},
            ("layers",),
            "more than once",
        ),
        ({"rotas": []}, ("rotas",), "Extra inputs"),
    ],
)
def test_invalid_rotation_is_refused_naming_the_field(
    changes: dict[str, Any], loc: tuple[str, ...], words: str
) -> None:
    found_loc, message = error_for(**changes)

    assert found_loc == loc
    assert words in message


@pytest.mark.parametrize(
    ("entry", "loc", "words"),
    [
        (override(member="dave"), ("overrides",), "unknown member 'dave'"),
        (override(layer="tertiary"), ("overrides",), "unknown layer 'tertiary'"),
        (override(end="2026-12-24T09:00:00+01:00"), ("overrides", 0), "before"),
        (override(end="2026-12-20T09:00:00+01:00"), ("overrides", 0), "before"),
        (override(start="2026-12-24T09:00:00"), ("overrides", 0, "from"), "UTC"),
        (override(end="2026-12-26T09:00:00"), ("overrides", 0, "to"), "UTC"),
        (override(until="2026-12-27"), ("overrides", 0, "until"), "Extra inputs"),
    ],
)
def test_invalid_override_is_refused_naming_the_field(
    entry: dict[str, Any], loc: tuple[str | int, ...], words: str
) -> None:
    found_loc, message = error_for(overrides=[entry])

    assert found_loc == loc
    assert words in message


def test_yaml_shaped_values_are_accepted() -> None:
    subject = rotation(start=date(2026, 1, 5), handoff=time(9), overrides=[override()])

    assert subject.handoff == time(9)
    assert subject.overrides[0].from_ == utc(2026, 12, 24, 8)
