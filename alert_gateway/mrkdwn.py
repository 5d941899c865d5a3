"""Slack's mrkdwn text as sent: escaping, links, length as Slack limits it, cuts.

https://api.slack.com/reference/surfaces/formatting#escaping
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

ELLIPSIS = "\u2026"
_ENTITIES = ("&amp;", "&lt;", "&gt;")

# Characters a URL may hold as typed; everything else is %-encoded in links.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def escape(text: str) -> str:
    """User-provided text as Slack expects it: `&`, `<` and `>` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """Slack's link markup; characters a URL may not hold as typed are %-encoded.

    That includes `|`, `<`, `>` and spaces, which would end the markup early.
    """
    safe_url = quote(url, safe=_URL_SAFE)
    return f"<{escape(safe_url)}|{escape(label)}>"


def date(moment: datetime) -> str:
    """Slack's date markup: shown in each reader's own time zone.

    Clients that cannot render it show the UTC fallback after the `|`.
    """
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    tokens = "{date_short_pretty} {time_secs}"
    return f"<!date^{int(moment.timestamp())}^{tokens}|{fallback}>"


def slack_length(text: str) -> int:
    """Length as Slack limits it, counted in UTF-16 code units.

    That is never less than the count of characters, so text within a limit by
    this measure is within it however Slack counts a character.
    """
    return len(text.encode("utf-16-le")) // 2


def fit_escaped(text: str, limit: int) -> str:
    """Cut text as sent to at most `limit`, marking the cut with an ellipsis.

    The cut falls between units: an escape like `&amp;`, our own markup like
    `<@U123>` or `<url|label>` (kept whole or left out), or one character.
    """
    if slack_length(text) <= limit:
        return text
    room = limit - slack_length(ELLIPSIS)
    kept = []
    for unit in _units(text):
        room -= slack_length(unit)
        if room < 0:
            break
        kept.append(unit)
    return "".join(kept) + ELLIPSIS if limit >= slack_length(ELLIPSIS) else ""


def _units(text: str) -> Iterator[str]:
    i = 0
    while i < len(text):
        end = i + 1
        if text[i] == "<":
            closing = text.find(">", i)
            end = closing + 1 if closing >= 0 else end
        elif text[i] == "&":
            entity = next((e for e in _ENTITIES if text.startswith(e, i)), "&")
            end = i + len(entity)
        yield text[i:end]
        i = end
