"""On-call rotations: the `Rotation` config model and who holds each layer when.

Pure functions, no I/O. Handoffs of `daily` and `weekly` rotations happen at the
local wall-clock handoff time in the rotation's IANA zone, whatever the UTC
offset that day, and so do `"<N>h"` shifts when N divides 24 or is a multiple
of it; other `"<N>h"` shifts last exactly N elapsed hours from the first
handoff. A handoff time that does not exist on a spring-forward day moves to the
first instant after the gap; one that happens twice on a fall-back day is the
first occurrence. docs/oncall.md explains the rules with examples.

All datetimes given must be timezone-aware; every datetime returned is in UTC.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alert_gateway import ical

_HOURS_SHIFT = re.compile(r"(\d+)h")
_HANDOFF = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_SLACK_USER_ID = re.compile(r"[A-Z][A-Z0-9]+")
_NAMED_SHIFTS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
_MAX_SHIFT_HOURS = 24 * 366
# Far enough from datetime's limits that handoff arithmetic never overflows.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class NaiveDatetimeError(ValueError):
    """Raised when a datetime given to the rotation maths has no UTC offset."""


class OutOfRangeError(ValueError):
    """Raised for a datetime before 1900 or after 8999 given to the rotation maths."""


class Layer(BaseModel):
    """One layer of a rotation (primary, secondary, ...) and its member order."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    order: list[str] = Field(default_factory=list)


class Override(BaseModel):
    """`member` holds `layer` from `from` (inclusive) to `to` (exclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    layer: str = Field(min_length=1)
    member: str = Field(min_length=1)
    from_: datetime = Field(alias="from")
    to: datetime

    @field_validator("from_", "to")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2026-12-24T09:00:00+01:00")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.from_ >= self.to:
            raise ValueError("`from` must be before `to`")
        return self


class Rotation(BaseModel):
    """One `rotations[]` entry of gateway.yml, validated.

    `layers` defaults to a single `primary` layer in the order `members` are
    listed. Overrides listed later win where two overlap.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    time_zone: str
    start: date
    handoff: time
    shift: str
    members: dict[str, str] = Field(default_factory=dict)
    layers: list[Layer] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_layer(cls, data: object) -> object:
        if isinstance(data, dict) and "layers" not in data:
            members = data.get("members")
            if isinstance(members, dict) and members:
                data = {**data, "layers": [{"name": "primary", "order": list(members)}]}
        return data

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown IANA time zone {value!r}, e.g. Europe/Madrid"
            ) from None
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _plain_date(cls, value: object) -> object:
        # A datetime would be silently truncated; the start is a local date only.
        if isinstance(value, datetime):
            raise ValueError("must be a date like 2026-01-05, without a time")
        return value

    @field_validator("start")
    @classmethod
    def _plausible_year(cls, value: date) -> date:
        if not _EARLIEST.year <= value.year < _LATEST.year - 1:
            raise ValueError(f"year {value.year} is out of range (1900 to 8998)")
        return value

    @field_validator("handoff", mode="before")
    @classmethod
    def _wall_time(cls, value: object) -> object:
        # Refuse numbers: YAML 1.1 reads an unquoted 09:00 as 540.
        if isinstance(value, time) and value.tzinfo is None:
            return value
        if not isinstance(value, str) or not (match := _HANDOFF.fullmatch(value)):
            raise ValueError(f"must be a local time HH:MM, got {value!r}")
        hour, minute, second = match.groups()
        return time(int(hour), int(minute), int(second or 0))

    @field_validator("shift")
    @classmethod
    def _shift_length(cls, value: str) -> str:
        if value in _NAMED_SHIFTS:
            return value
        match = _HOURS_SHIFT.fullmatch(value)
        if not match:
            raise ValueError(f"must be daily, weekly or '<N>h', got {value!r}")
        if not 0 < int(match.group(1)) <= _MAX_SHIFT_HOURS:
            raise ValueError(
                f"shift hours must be from 1 to {_MAX_SHIFT_HOURS}, got {value!r}"
            )
        return value

    @field_validator("members")
    @classmethod
    def _slack_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for member, slack_id in value.items():
            if not member:
                raise ValueError("member names must not be empty")
            if not _SLACK_USER_ID.fullmatch(slack_id):
                raise ValueError(
                    f"member {member!r}: {slack_id!r} is not a Slack user id "
                    "like U012AB3CD"
                )
        return value

    @field_validator("layers")
    @classmethod
    def _layer_members_exist(
        cls, value: list[Layer], info: ValidationInfo
    ) -> list[Layer]:
        names = [layer.name for layer in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"layer {name!r} is defined more than once")
        # Members that failed their own validation are reported there, not here.
        if "members" not in info.data:
            return value
        for layer in value:
            for member in layer.order:
                _require_member(info.data["members"], member, f"layer {layer.name!r}")
        return value

    @field_validator("overrides")
    @classmethod
    def _override_targets_exist(
        cls, value: list[Override], info: ValidationInfo
    ) -> list[Override]:
        layer_names = [layer.name for layer in info.data.get("layers", [])]
        for index, override in enumerate(value):
            where = f"override {index}"
            if "layers" in info.data and override.layer not in layer_names:
                raise ValueError(
                    f"{where}: unknown layer {override.layer!r}"
                    f" (layers: {', '.join(layer_names) or 'none'})"
                )
            if "members" in info.data:
                _require_member(info.data["members"], override.member, where)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def layer(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.name == name), None)


@dataclass(frozen=True)
class OnCall:
    """Who holds one layer of a rotation, from `start` (inclusive) to `end`, in UTC."""

    rotation: str
    layer: str
    member: str
    slack_id: str
    start: datetime
    end: datetime


def _require_member(members: dict[str, str], member: str, where: str) -> None:
    if member not in members:
        known = ", ".join(members) or "none"
        raise ValueError(f"{where}: unknown member {member!r} (members: {known})")


@dataclass(frozen=True)
class _Piece:
    """A stretch during which one member, or nobody, holds a layer.

    `start` None means since forever and `end` None means for ever after.
    """

    start: datetime | None
    end: datetime | None
    member: str | None


def on_call(rotation: Rotation, at: datetime, layer: str = "primary") -> OnCall | None:
    """Who holds `layer` at `at`, or None: no members, no such layer, not started.

    The returned start and end are those of the whole shift (cut where an
    override begins or ends), not just the part around `at`.
    """
    at = _utc(at, "at")
    found = rotation.layer(layer)
    if found is None:
        return None
    piece = _piece_at(rotation, found, at)
    if piece.member is None:
        return None
    return _on_call(rotation, found, piece)


def schedule(rotation: Rotation, start: datetime, end: datetime) -> list[OnCall]:
    """Every shift of every layer that overlaps [start, end), overrides applied.

    Shifts are whole (not cut at `start` or `end`) and ordered by start, then by
    the order of the layers in the rotation.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    ranked: list[tuple[datetime, int, OnCall]] = []
    for rank, layer in enumerate(rotation.layers):
        at = start
        while at < end:
            piece = _piece_at(rotation, layer, at)
            if piece.member is not None:
                entry = _on_call(rotation, layer, piece)
                ranked.append((entry.start, rank, entry))
            if piece.end is None:
                break
            at = piece.end
    ranked.sort(key=lambda item: item[:2])
    return [entry for _, _, entry in ranked]


def to_ical(entries: list[OnCall], *, now: datetime) -> str:
    """An RFC 5545 calendar with one event per entry; `now` is the DTSTAMP."""
    _utc(now, "now")
    events = [
        ical.Event(
            uid=_uid(entry),
            start=entry.start,
            end=entry.end,
            summary=f"On call ({entry.layer}): {entry.member}",
            description=f"Rotation {entry.rotation}, Slack user {entry.slack_id}",
        )
        for entry in entries
    ]
    return ical.calendar(events, now=now, name="On call")


def handoff_at(rotation: Rotation, index: int) -> datetime:
    """The UTC instant of handoff number `index`; handoff 0 starts the rotation."""
    step, on_wall_clock = _cadence(rotation.shift)
    first_wall = datetime.combine(rotation.start, rotation.handoff)
    if on_wall_clock:
        return _resolve(first_wall + step * index, rotation)
    return _resolve(first_wall, rotation) + step * index


def _piece_at(rotation: Rotation, layer: Layer, at: datetime) -> _Piece:
    overrides = [item for item in rotation.overrides if item.layer == layer.name]
    covering = [i for i, item in enumerate(overrides) if item.from_ <= at < item.to]
    if covering:
        # The last override listed wins; only overrides listed after it cut it.
        winner = covering[-1]
        override, later = overrides[winner], overrides[winner + 1 :]
        start = _latest(override.from_, [item.to for item in later if item.to <= at])
        end = _earliest(override.to, [item.from_ for item in later if item.from_ > at])
        return _Piece(start, end, override.member)

    base = _base_shift(rotation, layer, at)
    start = _latest(base.start, [item.to for item in overrides if item.to <= at])
    end = _earliest(base.end, [item.from_ for item in overrides if item.from_ > at])
    return _Piece(start, end, base.member)


def _base_shift(rotation: Rotation, layer: Layer, at: datetime) -> _Piece:
    if not layer.order:
        return _Piece(None, None, None)
    first = handoff_at(rotation, 0)
    if at < first:
        return _Piece(None, first, None)

    index, start, end = _shift_around(rotation, at, first)
    return _Piece(start, end, layer.order[index % len(layer.order)])


def _shift_around(
    rotation: Rotation, at: datetime, first: datetime
) -> tuple[int, datetime, datetime]:
    """The number, start and end of the shift running at `at` (not before `first`)."""
    step, on_wall_clock = _cadence(rotation.shift)
    if not on_wall_clock:
        index = (at - first) // step
        return index, first + step * index, first + step * (index + 1)

    # A first guess from the local wall clock, then a step or two to the exact
    # shift; a shift emptied by a gap (an hour shift on a spring-forward night,
    # the day Pacific/Apia skipped in 2011) is stepped over.
    first_wall = datetime.combine(rotation.start, rotation.handoff)
    local = at.astimezone(rotation.zone).replace(tzinfo=None)
    index = max(0, (local - first_wall) // step)
    start = handoff_at(rotation, index)
    while index > 0 and start > at:
        index -= 1
        start = handoff_at(rotation, index)
    end = handoff_at(rotation, index + 1)
    while end <= at:
        index, start = index + 1, end
        end = handoff_at(rotation, index + 1)
    return index, start, end


def _resolve(wall: datetime, rotation: Rotation) -> datetime:
    """The UTC instant a local wall-clock time stands for.

    A time that happens twice is its first occurrence; a time skipped by a
    spring-forward gap becomes the first instant after the gap.
    """
    zone = rotation.zone
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first

    # In a gap fold=1 reads the time with the offset after the jump, landing
    # before it, and fold=0 with the offset before, landing after: search between.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    below, above = 0, int((first - low).total_seconds())
    while above - below > 1:
        middle = (below + above) // 2
        local = (low + timedelta(seconds=middle)).astimezone(zone)
        if local.replace(tzinfo=None) >= wall:
            above = middle
        else:
            below = middle
    return low + timedelta(seconds=above)


@cache
def _cadence(shift: str) -> tuple[timedelta, bool]:
    """The time between handoffs, and whether it is counted on the local clock.

    Lengths that divide a day or are whole days give the same local handoff
    times every day, so they keep to them across DST; other lengths cannot, so
    they count elapsed time.
    """
    if shift in _NAMED_SHIFTS:
        return _NAMED_SHIFTS[shift], True
    hours = int(shift.removesuffix("h"))
    return timedelta(hours=hours), 24 % hours == 0 or hours % 24 == 0


def _latest(bound: datetime | None, others: list[datetime]) -> datetime | None:
    candidates = [*others, bound] if bound is not None else others
    return max(candidates, default=None)


def _earliest(bound: datetime | None, others: list[datetime]) -> datetime | None:
    candidates = [*others, bound] if bound is not None else others
    return min(candidates, default=None)


def _on_call(rotation: Rotation, layer: Layer, piece: _Piece) -> OnCall:
    # Only pieces with a member reach here, and those always have both ends.
    assert piece.member is not None and piece.start and piece.end
    return OnCall(
        rotation=rotation.name,
        layer=layer.name,
        member=piece.member,
        slack_id=rotation.members[piece.member],
        start=piece.start,
        end=piece.end,
    )


def check_moment(moment: datetime, name: str) -> datetime:
    """`moment` in UTC if the rotation maths can take it, else the error they raise.

    NaiveDatetimeError without a UTC offset, OutOfRangeError outside 1900..8999.
    """
    return _utc(moment, name)


def _uid(entry: OnCall) -> str:
    key = f"{entry.rotation}\n{entry.layer}\n{ical.format_utc(entry.start)}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@alert-gateway"


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(f"{name} must be timezone-aware, got {moment}")
    if not _EARLIEST <= moment < _LATEST:
        raise OutOfRangeError(f"{name} must be between 1900 and 8999, got {moment}")
    return moment.astimezone(UTC)
