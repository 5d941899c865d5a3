"""Rotation maths as properties over drawn rotations, zones and windows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alert_gateway.oncall import (
    OnCall,
    Rotation,
    handoff_at,
    on_call,
    schedule,
)
from tests.alert_gateway.rotations import (
    rotation,
)

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
