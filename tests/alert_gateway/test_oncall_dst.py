"""Rotation handoffs across daylight-saving changes, in three zones.

Every expected UTC instant here is worked out by hand from the zone rules (EU:
last Sunday of March and October at 01:00 UTC; US: second Sunday of March and
first Sunday of November at 02:00 local; New South Wales: first Sunday of
October and of April at 02:00/03:00 local), not taken from the code.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from alert_gateway.oncall import (
    handoff_at,
    on_call,
    schedule,
)
from tests.alert_gateway.rotations import (
    handoffs,
    instants,
    primary_shifts,
    rotation,
    utc,
)

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
