"""iCalendar (RFC 5545) text: escaping, line folding and one calendar of events.

Pure functions with no I/O and no knowledge of rotations; `oncall.to_ical` turns
shifts into `Event`s and hands them here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

CRLF = "\r\n"

# RFC 5545, section 3.1: content lines longer than this many octets are folded.
MAX_LINE_OCTETS = 75

PRODID = "-//obsgen//alert-gateway on-call//EN"

# Control characters other than tab are not allowed in TEXT values (section 3.3.11).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Event:
    """One VEVENT: a stretch of time with a title, identified by a stable UID."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""


def escape_text(value: str) -> str:
    """Escape a TEXT value: backslash, semicolon, comma and line breaks."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")
    return _CONTROL.sub("", value)


def fold(line: str) -> list[str]:
    """Split one content line into physical lines of at most 75 octets each.

    Every line after the first starts with a space, which counts towards its 75
    octets. A cut never falls inside a multi-byte UTF-8 character.
    """
    if len(line.encode("utf-8")) <= MAX_LINE_OCTETS:
        return [line]

    pieces: list[str] = []
    current = ""
    current_octets = 0
    for char in line:
        octets = len(char.encode("utf-8"))
        if current_octets + octets > MAX_LINE_OCTETS:
            pieces.append(current)
            current = " "
            current_octets = 1
        current += char
        current_octets += octets
    pieces.append(current)
    return pieces


def format_utc(moment: datetime) -> str:
    """The DATE-TIME form in UTC (`20260105T080000Z`); whole seconds only."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} has no UTC offset")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(events: Iterable[Event], *, now: datetime, name: str) -> str:
    """A whole VCALENDAR with one VEVENT per event, CRLF line endings, folded.

    `now` becomes every event's DTSTAMP, so the same events give the same text
    for the same `now`.
    """
    stamp = format_utc(now)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for event in events:
        lines += _event_lines(event, stamp)
    lines.append("END:VCALENDAR")

    physical = [piece for line in lines for piece in fold(line)]
    return CRLF.join(physical) + CRLF


def _event_lines(event: Event, stamp: str) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{format_utc(event.start)}",
        f"DTEND:{format_utc(event.end)}",
        f"SUMMARY:{escape_text(event.summary)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    # A shift does not make the person busy; calendars should not block the time.
    lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
    return lines
