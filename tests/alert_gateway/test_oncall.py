"""Rotation maths: handoffs across DST, overrides, validation, and properties.

Every expected UTC instant in the DST tests is worked out by hand from the zone
rules (EU: last Sunday of March and October at 01:00 UTC; US: second Sunday of
March and first Sunday of November at 02:00 local; New South Wales: first Sunday
of October and of April at 02:00/03:00 local), not taken from the code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alert_gateway.oncall import (
    NaiveDatetimeError,
    OnCall,
    OutOfRangeError,
    Rotation,
    handoff_at,
    on_call,
    schedule,
)

MEMBERS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL"}


def fields(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "platform-oncall",
        "time_zone": "Europe/Madrid",
        "start": "2026-03-27",
        "handoff": "09:00",
        "shift": "daily",
        "members": MEMBERS,
        "layers": [
            {"name": "primary", "order": ["alice", "bob", "carol"]},
            {"name": "secondary", "order": ["bob", "carol", "alice"]},
        ],
    }
    values.update(changes)
    return values


def rotation(**changes: Any) -> Rotation:
    return Rotation.model_validate(fields(**changes))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def override(
    start: str = "2026-12-24T09:00:00+01:00",
    end: str = "2026-12-26T09:00:00+01:00",
    **changes: Any,
) -> dict[str, Any]:
    values = {"layer": "primary", "member": "carol", "from": start, "to": end}
    return {**values, **changes}


def instants(text: str, year: int = 2026) -> list[datetime]:
    """UTC instants written by hand as "MM-DD HH:MM, MM-DD HH:MM, ..." in `year`."""
    return [
        datetime.fromisoformat(f"{year}-{item.strip()}+00:00")
        for item in text.split(",")
    ]


def handoffs(subject: Rotation, count: int) -> list[datetime]:
    return [handoff_at(subject, index) for index in range(count)]


def primary_shifts(subject: Rotation, start: datetime, end: datetime) -> list[OnCall]:
    return [
        entry for entry in schedule(subject, start, end) if entry.layer == "primary"
    ]


# Handoffs across daylight-saving changes, 2026


@pytest.mark.parametrize(
    ("zone", "start", "shift", "expected"),
    [
        # Madrid 03-29: 09:00 CET is 08:00Z, 09:00 CEST is 07:00Z; back on 10-25.
        ("Europe/Madrid", "03-27", "daily", "03-27 08:00, 03-28 08:00, 03-29 07:00"),
        ("Europe/Madrid", "10-23", "daily", "10-23 07:00, 10-24 07:00, 10-25 08:00"),
        # New York 03-08: 09:00 EST is 14:00Z, 09:00 EDT is 13:00Z; back on 11-01.
        ("America/New_York", "03-07", "daily", "03-07 14:00, 03-08 13:00, 03-09 13:00"),
        ("America/New_York", "10-31", "daily", "10-31 13:00, 11-01 14:00, 11-02 14:00"),
        (
            "America/New_York",
            "03-02",
            "weekly",
            "03-02 14:00, 03-09 13:00, 03-16 13:00",
        ),
        (
            "America/New_York",
            "10-26",
            "weekly",
            "10-26 13:00, 11-02 14:00, 11-09 14:00",
        ),
        # Sydney 04-05: 09:00 AEDT (+11) is 22:00Z the day before, 09:00 AEST
        # (+10) is 23:00Z the day before; the other way on 10-04.
        ("Australia/Sydney", "04-04", "daily", "04-03 22:00, 04-04 23:00, 04-05 23:00"),
        ("Australia/Sydney", "10-03", "daily", "10-02 23:00, 10-03 22:00, 10-04 22:00"),
    ],
)
def test_handoffs_stay_at_local_wall_clock_time_across_dst(
    zone: str, start: str, shift: str, expected: str
) -> None:
    subject = rotation(time_zone=zone, start=f"2026-{start}", shift=shift)
    first, second, third = instants(expected)

    assert handoffs(subject, 3) == [first, second, third]
    shifts = primary_shifts(subject, first, third)
    assert [(entry.start, entry.end) for entry in shifts] == [
        (first, second),
        (second, third),
    ]


def test_daily_shift_is_23_hours_in_spring_and_25_in_autumn() -> None:
    spring = primary_shifts(rotation(), *instants("03-28 12:00, 03-28 13:00"))
    autumn = primary_shifts(
        rotation(start="2026-10-01"), *instants("10-24 12:00, 10-24 13:00")
    )

    assert spring[0].end - spring[0].start == timedelta(hours=23)
    assert autumn[0].end - autumn[0].start == timedelta(hours=25)


def test_on_call_changes_exactly_at_the_handoff_instant() -> None:
    subject = rotation()  # alice from 03-27, bob from 03-28, carol from 03-29 07:00Z

    before = on_call(subject, utc(2026, 3, 29, 6, 59, 59))
    after = on_call(subject, utc(2026, 3, 29, 7))
    secondary = on_call(subject, utc(2026, 3, 29, 7), layer="secondary")

    assert before and before.member == "bob" and before.slack_id == "U0BOB"
    assert after and after.member == "carol"
    assert [after.start, after.end] == instants("03-29 07:00, 03-30 07:00")
    assert secondary and secondary.member == "alice"


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Madrid 03-29: 02:00-03:00 does not exist; 03:00 CEST is 01:00Z.
        ("Europe/Madrid", "03-28", "03-28 01:30, 03-29 01:00, 03-30 00:30"),
        # New York 03-08: 03:00 EDT is 07:00Z.
        ("America/New_York", "03-07", "03-07 07:30, 03-08 07:00, 03-09 06:30"),
        # Sydney 10-04: 03:00 AEDT is 16:00Z the day before.
        ("Australia/Sydney", "10-03", "10-02 16:30, 10-03 16:00, 10-04 15:30"),
    ],
)
def test_handoff_in_spring_gap_moves_to_the_end_of_the_gap(
    zone: str, start: str, expected: str
) -> None:
    subject = rotation(time_zone=zone, start=f"2026-{start}", handoff="02:30")

    assert handoffs(subject, 3) == instants(expected)


@pytest.mark.parametrize(
    ("zone", "start", "handoff", "expected"),
    [
        # Madrid 10-25: 02:30 happens at 00:30Z (CEST) and at 01:30Z (CET).
        ("Europe/Madrid", "10-24", "02:30", "10-24 00:30, 10-25 00:30, 10-26 01:30"),
        # New York 11-01: 01:30 happens at 05:30Z (EDT) and at 06:30Z (EST).
        ("America/New_York", "10-31", "01:30", "10-31 05:30, 11-01 05:30, 11-02 06:30"),
    ],
)
def test_handoff_in_autumn_overlap_is_the_first_occurrence(
    zone: str, start: str, handoff: str, expected: str
) -> None:
    subject = rotation(time_zone=zone, start=f"2026-{start}", handoff=handoff)

    assert handoffs(subject, 3) == instants(expected)


def test_on_call_in_the_repeated_hour_after_an_overlapping_handoff() -> None:
    # Madrid 10-25: the 02:30 handoff is at 00:30Z; at 01:15Z the clock reads
    # 02:15 again (CET), earlier than 02:30, yet bob's shift has begun.
    subject = rotation(start="2026-10-24", handoff="02:30")

    holder = on_call(subject, utc(2026, 10, 25, 1, 15))

    assert holder and holder.member == "bob"
    assert [holder.start, holder.end] == instants("10-25 00:30, 10-26 01:30")


def test_12h_shifts_keep_their_local_handoff_times_across_dst() -> None:
    spring = rotation(start="2026-03-28", shift="12h")
    autumn = rotation(start="2026-10-24", shift="12h")

    # 09:00 and 21:00 local: 08:00Z/20:00Z in CET, 07:00Z/19:00Z in CEST; the
    # night shift across the change is 11 hours in spring and 13 in autumn.
    expected_spring = "03-28 08:00, 03-28 20:00, 03-29 07:00, 03-29 19:00"
    expected_autumn = "10-24 07:00, 10-24 19:00, 10-25 08:00, 10-25 20:00"
    assert handoffs(spring, 4) == instants(expected_spring)
    assert handoffs(autumn, 4) == instants(expected_autumn)


def test_24h_and_48h_shifts_keep_the_local_handoff_time_like_daily() -> None:
    daily = rotation(start="2026-03-28")
    one_day = rotation(start="2026-03-28", shift="24h")
    two_days = rotation(start="2026-03-28", shift="48h")

    assert handoffs(one_day, 3) == handoffs(daily, 3)
    assert handoffs(two_days, 2) == instants("03-28 08:00, 03-30 07:00")


def test_shifts_that_do_not_fit_a_day_count_elapsed_hours_across_dst() -> None:
    ten = rotation(start="2026-03-28", shift="10h")
    thirty_six = rotation(start="2026-03-28", shift="36h")

    # 09:00 CET on 03-28 is 08:00Z; every handoff after is 10 or 36 real hours
    # later, so after the change they read an hour later on the local clock.
    assert handoffs(ten, 4) == instants(
        "03-28 08:00, 03-28 18:00, 03-29 04:00, 03-29 14:00"
    )
    assert handoff_at(ten, 3).astimezone(ZoneInfo("Europe/Madrid")).hour == 16
    assert handoffs(thirty_six, 2) == instants("03-28 08:00, 03-29 20:00")


def test_hour_shifts_starting_in_a_gap_start_at_the_end_of_the_gap() -> None:
    on_clock = rotation(start="2026-03-29", handoff="02:30", shift="8h")
    elapsed = rotation(start="2026-03-29", handoff="02:30", shift="5h")

    # 03:00 CEST is 01:00Z; then 10:30 and 18:30 CEST, or 5 real hours apart.
    assert handoffs(on_clock, 3) == instants("03-29 01:00, 03-29 08:30, 03-29 16:30")
    assert handoffs(elapsed, 3) == instants("03-29 01:00, 03-29 06:00, 03-29 11:00")


FOUR = {
    "members": {"a": "UA", "b": "UB", "c": "UC", "d": "UD"},
    "layers": [{"name": "primary", "order": ["a", "b", "c", "d"]}],
}


def test_hourly_shift_lost_to_the_spring_gap_is_skipped() -> None:
    # Madrid 2026-03-29: 02:00 local does not exist, so the 02:00 handoff falls
    # on the 03:00 one (01:00Z) and c's shift is empty.
    subject = rotation(start="2026-03-29", handoff="00:00", shift="1h", **FOUR)

    shifts = schedule(subject, utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))

    assert [(entry.member, entry.start, entry.end) for entry in shifts] == [
        ("a", utc(2026, 3, 28, 23), utc(2026, 3, 29, 0)),
        ("b", utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        ("d", utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
        ("a", utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)),
    ]


def test_hourly_shift_over_the_autumn_overlap_lasts_two_hours() -> None:
    # Madrid 2026-10-25: 02:00 is first at 00:00Z (CEST); 03:00 CET is 02:00Z.
    subject = rotation(start="2026-10-25", handoff="00:00", shift="1h", **FOUR)

    shifts = schedule(subject, utc(2026, 10, 24, 22), utc(2026, 10, 25, 3))

    assert [(entry.member, entry.start, entry.end) for entry in shifts] == [
        ("a", utc(2026, 10, 24, 22), utc(2026, 10, 24, 23)),
        ("b", utc(2026, 10, 24, 23), utc(2026, 10, 25, 0)),
        ("c", utc(2026, 10, 25, 0), utc(2026, 10, 25, 2)),
        ("d", utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)),
    ]


def test_a_skipped_local_day_skips_the_empty_shift_and_leaves_no_gap() -> None:
    # Samoa went from UTC-10 to UTC+14 after 2011-12-29: 2011-12-30 never
    # happened there, so its 00:00 handoff falls on the 12-31 one (10:00Z).
    subject = rotation(
        time_zone="Pacific/Apia", start="2011-12-28", handoff="00:00", **FOUR
    )

    shifts = schedule(subject, utc(2011, 12, 28, 10), utc(2011, 12, 31, 10))

    assert [(entry.member, entry.start, entry.end) for entry in shifts] == [
        ("a", utc(2011, 12, 28, 10), utc(2011, 12, 29, 10)),
        ("b", utc(2011, 12, 29, 10), utc(2011, 12, 30, 10)),
        ("d", utc(2011, 12, 30, 10), utc(2011, 12, 31, 10)),
    ]


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


# Properties

ZONES = [
    "UTC",
    "Europe/Madrid",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # half-hour DST
    "America/Santiago",  # changes at local midnight
    "Europe/Dublin",  # winter time is the "negative" DST
    "Pacific/Chatham",  # +12:45/+13:45
    "America/St_Johns",  # -03:30
    "Asia/Kolkata",
]
# Zones where a day is 23, 24 or 25 hours long over the years drawn below.
ONE_HOUR_DST_ZONES = ["Europe/Madrid", "America/New_York", "Australia/Sydney"]
NAMES = ["alice", "bob", "carol", "dave"]
BOUNDED = settings(max_examples=100, deadline=None)

WALL_CLOCK_SHIFTS = st.sampled_from(
    ["daily", "weekly", "1h", "2h", "3h", "4h", "6h", "8h", "12h", "24h", "48h", "72h"]
)
ELAPSED_SHIFTS = (
    st.integers(1, 100).filter(lambda n: 24 % n and n % 24).map(lambda n: f"{n}h")
)
# Start dates near DST changes half of the time, so that windows cross them.
START_DATES = st.one_of(
    st.dates(date(2015, 1, 1), date(2035, 12, 31)),
    st.builds(
        date,
        st.integers(2015, 2035),
        st.sampled_from([3, 4, 9, 10, 11]),
        st.integers(1, 28),
    ),
)


# Hours when clocks change in the zones above, half of the time.
HOURS = st.one_of(st.integers(0, 23), st.integers(0, 3))


def step_of(shift: str) -> timedelta:
    named = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
    return named.get(shift) or timedelta(hours=int(shift.removesuffix("h")))


@st.composite
def rotations(
    draw: st.DrawFn, zones: list[str] = ZONES, shifts: Any = None
) -> Rotation:
    members = NAMES[: draw(st.integers(1, 4))]
    layers = [
        {"name": name, "order": draw(st.permutations(members))}
        for name in ["primary", "secondary"][: draw(st.integers(1, 2))]
    ]
    shift = draw(
        st.one_of(WALL_CLOCK_SHIFTS, ELAPSED_SHIFTS) if shifts is None else shifts
    )
    return rotation(
        time_zone=draw(st.sampled_from(zones)),
        start=draw(START_DATES),
        handoff=time(draw(HOURS), draw(st.sampled_from([0, 15, 30, 59]))),
        shift=shift,
        members={name: f"U{name.upper()}" for name in members},
        layers=layers,
    )


def window_after_start(draw: st.DrawFn, subject: Rotation) -> tuple[datetime, datetime]:
    first = handoff_at(subject, 0)
    offset = st.one_of(st.integers(0, 60 * 24 * 400), st.integers(0, 60 * 24 * 40))
    start = first + timedelta(minutes=draw(offset))
    end = start + timedelta(minutes=draw(st.integers(1, 60 * 24 * 21)))
    return start, end


def by_layer(entries: list[OnCall], layer: str) -> list[OnCall]:
    return [entry for entry in entries if entry.layer == layer]


@BOUNDED
@given(data=st.data())
def test_every_instant_has_exactly_one_person_per_layer(data: st.DataObject) -> None:
    subject = data.draw(rotations())
    start, end = window_after_start(data.draw, subject)
    entries = schedule(subject, start, end)

    for layer in subject.layers:
        shifts = by_layer(entries, layer.name)
        assert shifts[0].start <= start < shifts[0].end
        assert shifts[-1].end >= end
        for previous, following in pairwise(shifts):
            assert previous.end == following.start
        assert all(entry.start < entry.end for entry in shifts)
        for entry in shifts:
            assert on_call(subject, entry.start, layer=layer.name) == entry

        at = start + (end - start) * data.draw(st.floats(0, 0.999))
        holder = on_call(subject, at, layer=layer.name)
        assert holder is not None and holder.start <= at < holder.end
        assert holder in shifts
        assert holder.member in layer.order


@BOUNDED
@given(data=st.data())
def test_schedule_is_ordered_by_start_then_layer(data: st.DataObject) -> None:
    subject = data.draw(rotations())
    start, end = window_after_start(data.draw, subject)
    rank = {layer.name: index for index, layer in enumerate(subject.layers)}

    keys = [(entry.start, rank[entry.layer]) for entry in schedule(subject, start, end)]

    assert keys == sorted(keys)


@BOUNDED
@given(data=st.data())
def test_wall_clock_shifts_start_at_a_local_handoff_time(data: st.DataObject) -> None:
    subject = data.draw(rotations(shifts=WALL_CLOCK_SHIFTS))
    start, end = window_after_start(data.draw, subject)
    step = step_of(subject.shift)
    first_wall = datetime.combine(subject.start, subject.handoff)

    for entry in by_layer(schedule(subject, start, end), "primary"):
        local = entry.start.astimezone(subject.zone)
        naive = local.replace(tzinfo=None)
        slot = first_wall + (naive - first_wall) // step * step
        if naive == slot:
            assert local.fold == 0  # the first of two occurrences
            continue
        # Otherwise the slot's time fell in a gap: the clock jumped over it
        # between the second before the shift and the shift's first instant.
        before = (entry.start - timedelta(seconds=1)).astimezone(subject.zone)
        assert before.replace(tzinfo=None) < slot < naive


@BOUNDED
@given(data=st.data())
def test_wall_clock_shifts_differ_from_their_length_by_at_most_the_dst_hour(
    data: st.DataObject,
) -> None:
    subject = data.draw(rotations(zones=ONE_HOUR_DST_ZONES, shifts=WALL_CLOCK_SHIFTS))
    start, end = window_after_start(data.draw, subject)
    step = step_of(subject.shift)

    for entry in by_layer(schedule(subject, start, end), "primary"):
        assert abs(entry.end - entry.start - step) <= timedelta(hours=1)


@BOUNDED
@given(data=st.data())
def test_other_hour_shifts_last_exactly_n_elapsed_hours(data: st.DataObject) -> None:
    subject = data.draw(rotations(shifts=ELAPSED_SHIFTS))
    start, end = window_after_start(data.draw, subject)
    step = step_of(subject.shift)
    first = handoff_at(subject, 0)

    for entry in schedule(subject, start, end):
        assert entry.end - entry.start == step
        assert (entry.start - first) % step == timedelta(0)


@st.composite
def overrides_within(
    draw: st.DrawFn, subject: Rotation, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    span = int((end - start) / timedelta(minutes=1))
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        begin = start + timedelta(minutes=draw(st.integers(0, span)))
        length = timedelta(minutes=draw(st.integers(1, span + 1)))
        layer = draw(st.sampled_from(subject.layers))
        entries.append(
            {
                "layer": layer.name,
                "member": draw(st.sampled_from(list(subject.members))),
                "from": begin,
                "to": begin + length,
            }
        )
    return entries


def expected_member(
    base: Rotation, overrides: list[dict[str, Any]], layer: str, at: datetime
) -> str | None:
    """The last override listed that covers `at`, else the plain rotation's pick."""
    for item in reversed(overrides):
        if item["layer"] == layer and item["from"] <= at < item["to"]:
            return item["member"]
    holder = on_call(base, at, layer)
    return holder.member if holder else None


@BOUNDED
@given(data=st.data())
def test_overrides_win_inside_their_interval_and_the_rotation_resumes_after(
    data: st.DataObject,
) -> None:
    base = data.draw(rotations())
    start, end = window_after_start(data.draw, base)
    overrides = data.draw(overrides_within(base, start, end))
    subject = Rotation.model_validate(base.model_dump() | {"overrides": overrides})

    probes = [start + (end - start) * data.draw(st.floats(0, 1)) for _ in range(5)]
    probes += [item[edge] for item in overrides for edge in ("from", "to")]
    for at in probes:
        for layer in subject.layers:
            holder = on_call(subject, at, layer=layer.name)
            assert holder is not None and holder.start <= at < holder.end
            assert holder.member == expected_member(base, overrides, layer.name, at)

    entries = schedule(subject, start, end)
    for layer in subject.layers:
        for previous, following in pairwise(by_layer(entries, layer.name)):
            assert previous.end == following.start
