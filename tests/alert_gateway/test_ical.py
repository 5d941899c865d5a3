"""The iCalendar feed: CRLF lines, folding at 75 octets, escaping, stable UIDs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alert_gateway import ical
from alert_gateway.oncall import OnCall, to_ical

NOW = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)


def entry(**changes: object) -> OnCall:
    values: dict[str, object] = {
        "rotation": "platform-oncall",
        "layer": "primary",
        "member": "alice",
        "slack_id": "U0ALICE",
        "start": datetime(2026, 3, 29, 7, tzinfo=UTC),
        "end": datetime(2026, 3, 30, 7, tzinfo=UTC),
    }
    values.update(changes)
    return OnCall(**values)  # type: ignore[arg-type]


def unfold(text: str) -> list[str]:
    """Content lines back from the physical ones (RFC 5545, section 3.1)."""
    assert text.endswith("\r\n")
    return text[: -len("\r\n")].replace("\r\n ", "").split("\r\n")


def unescape(value: str) -> str:
    replacements = {"\\\\": "\\", "\\;": ";", "\\,": ",", "\\n": "\n", "\\N": "\n"}
    return re.sub(r"\\[\\;,nN]", lambda match: replacements[match.group()], value)


def events(text: str) -> list[dict[str, str]]:
    """Each VEVENT's properties, checking BEGIN/END nest properly on the way."""
    found: list[dict[str, str]] = []
    open_components: list[str] = []
    for line in unfold(text):
        name, _, value = line.partition(":")
        if name == "BEGIN":
            open_components.append(value)
            if value == "VEVENT":
                found.append({})
        elif name == "END":
            assert open_components.pop() == value
        elif open_components[-1] == "VEVENT":
            found[-1][name] = value
    assert open_components == []
    return found


def test_calendar_has_one_event_per_entry_with_utc_times() -> None:
    text = to_ical([entry(), entry(layer="secondary", member="bob")], now=NOW)

    parsed = events(text)

    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert len(parsed) == 2
    assert parsed[0]["DTSTART"] == "20260329T070000Z"
    assert parsed[0]["DTEND"] == "20260330T070000Z"
    assert parsed[0]["DTSTAMP"] == "20261204T153000Z"
    assert parsed[0]["SUMMARY"] == "On call (primary): alice"
    assert parsed[1]["SUMMARY"] == "On call (secondary): bob"


def test_event_times_in_other_offsets_are_written_in_utc() -> None:
    madrid = datetime.fromisoformat("2026-03-29T09:00:00+02:00")

    parsed = events(to_ical([entry(start=madrid)], now=NOW))

    assert parsed[0]["DTSTART"] == "20260329T070000Z"


def test_every_line_ends_with_crlf_and_no_bare_line_feed() -> None:
    text = to_ical([entry(member="a\nb")], now=NOW)

    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "\r" not in text.replace("\r\n", "")


def uid_of(item: OnCall, now: datetime = NOW) -> str:
    return events(to_ical([item], now=now))[0]["UID"]


def test_uid_is_stable_for_rotation_layer_and_start_only() -> None:
    first = uid_of(entry())
    another_day_and_member = uid_of(
        entry(member="bob"), now=datetime(2027, 1, 1, tzinfo=UTC)
    )
    other_layer = uid_of(entry(layer="secondary"))
    other_start = uid_of(entry(start=datetime(2026, 3, 30, 7, tzinfo=UTC)))
    other_rotation = uid_of(entry(rotation="sales-oncall"))

    assert first == another_day_and_member
    assert len({first, other_layer, other_start, other_rotation}) == 4


def test_text_escapes_backslash_semicolon_comma_and_newline() -> None:
    assert ical.escape_text("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"


def test_escaped_summary_parses_back_to_the_original() -> None:
    name = "o'brien, jr; \\ the\nsecond"

    parsed = events(to_ical([entry(member=name)], now=NOW))

    assert (
        parsed[0]["SUMMARY"] == "On call (primary): o'brien\\, jr\\; \\\\ the\\nsecond"
    )
    assert unescape(parsed[0]["SUMMARY"]) == f"On call (primary): {name}"


def test_control_characters_are_dropped_from_text() -> None:
    assert ical.escape_text("a\x00b\x1bc\td") == "abc\td"


def test_line_of_75_octets_is_not_folded_and_76_is() -> None:
    assert ical.fold("x" * 75) == ["x" * 75]
    assert ical.fold("x" * 76) == ["x" * 75, " x"]
    assert ical.fold("x" * 150) == ["x" * 75, " " + "x" * 74, " x"]


def test_fold_never_splits_a_multibyte_character() -> None:
    # 74 ASCII octets, then a 2-octet character that would straddle octet 75.
    pieces = ical.fold("x" * 74 + "ñ" + "y")

    assert pieces == ["x" * 74, " ñy"]


@settings(max_examples=150, deadline=None)
@given(member=st.text(min_size=1, max_size=300), rotation=st.text(max_size=100))
def test_long_text_is_folded_to_75_octets_and_unfolds_to_the_original(
    member: str, rotation: str
) -> None:
    text = to_ical([entry(member=member, rotation=rotation)], now=NOW)

    for line in text.split("\r\n")[:-1]:
        assert len(line.encode("utf-8")) <= ical.MAX_LINE_OCTETS
    summary = events(text)[0]["SUMMARY"]
    lines = member.replace("\r\n", "\n").replace("\r", "\n")
    kept = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", lines)
    assert unescape(summary) == f"On call (primary): {kept}"


def test_empty_schedule_is_still_a_calendar() -> None:
    text = to_ical([], now=NOW)

    assert events(text) == []
    assert text.endswith("END:VCALENDAR\r\n")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ical([entry()], now=datetime(2026, 12, 4))
