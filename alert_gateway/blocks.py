"""Slack messages for alert groups: the group's state and its Block Kit rendering."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from alert_gateway.mrkdwn import ELLIPSIS, date, escape, fit_escaped, link, slack_length
from alert_gateway.payload import Alert, Notification

# https://api.slack.com/reference/block-kit/blocks#section
SECTION_TEXT_MAX_CHARS = 3_000
# https://api.slack.com/reference/block-kit/blocks#header
HEADER_TEXT_MAX_CHARS = 150
# https://api.slack.com/reference/block-kit/blocks (a message holds up to 50 blocks)
MESSAGE_MAX_BLOCKS = 50
# https://api.slack.com/methods/chat.postMessage#truncating
MESSAGE_TEXT_MAX_CHARS = 40_000
# Not on a documented page: Slack answers `msg_blocks_too_long` once the blocks of
# one message hold somewhat over 13,000 characters, so we stay below that.
BLOCKS_TEXT_MAX_CHARS = 12_000
# https://api.slack.com/reference/block-kit/block-elements#button
BUTTON_VALUE_MAX_CHARS = 2_000

# Labels people act on, in the order they are shown.
IMPORTANT_LABELS = ("severity", "service", "team", "env", "instance", "job")

ACK_ACTION_ID = "ack"
SILENCE_ACTION_ID = "silence_1h"

_ALERT_SECTION_MIN_CHARS = 400
_OMISSION_NOTES_MAX_CHARS = 200
_LABEL_VALUE_MAX_CHARS = 200
_URL_MAX_CHARS = 1_500
_LINK_ANNOTATIONS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


@dataclass
class Message:
    """What is sent to Slack: the fallback text and the Block Kit blocks."""

    text: str
    blocks: list[dict[str, Any]]


@dataclass
class GroupState:
    """One alert group as currently known, alert by alert."""

    group_key: str
    status: str
    receiver: str
    external_url: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    truncated_alerts: int
    alerts: list[Alert] = field(default_factory=list)

    @classmethod
    def from_notification(cls, n: Notification) -> GroupState:
        state = cls(
            group_key=n.group_key,
            status=n.status,
            receiver=n.receiver,
            external_url=n.external_url,
            group_labels=dict(n.group_labels),
            common_labels=dict(n.common_labels),
            common_annotations=dict(n.common_annotations),
            truncated_alerts=n.truncated_alerts,
        )
        return state._with_alerts(n.alerts)

    def merge(self, n: Notification) -> GroupState:
        """The state after a newer notification of the same group.

        Alertmanager sends each alert's latest status; alerts it no longer sends
        keep the status we last saw.
        """
        newer = replace(
            self,
            receiver=n.receiver,
            external_url=n.external_url or self.external_url,
            group_labels=dict(n.group_labels),
            common_labels=dict(n.common_labels),
            common_annotations=dict(n.common_annotations),
            truncated_alerts=n.truncated_alerts,
            alerts=list(self.alerts),
        )
        return newer._with_alerts(n.alerts)

    def firing(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status == "firing"]

    def resolved(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status == "resolved"]

    def _with_alerts(self, incoming: list[Alert]) -> GroupState:
        by_key = {alert_key(alert): alert for alert in self.alerts}
        for alert in incoming:
            known = by_key.get(alert_key(alert))
            if known is None or not _older(alert, known):
                by_key[alert_key(alert)] = alert
        self.alerts = list(by_key.values())
        self.status = "firing" if self.firing() else "resolved"
        return self


def _older(incoming: Alert, known: Alert) -> bool:
    """Whether `incoming` describes an earlier moment than `known`.

    Two Alertmanagers in HA may deliver a firing and a resolved notice of one
    alert in either order. A firing alert that started before the known end is
    from the episode that already ended; a re-fire starts after it.
    """
    if incoming.status == "firing" and known.status == "resolved":
        end = known.ends_at if known.has_end else None
        return end is not None and incoming.starts_at <= end
    if incoming.status == "resolved" and known.status == "firing":
        end = incoming.ends_at if incoming.has_end else None
        return end is not None and end < known.starts_at
    return False


def alert_key(alert: Alert) -> str:
    """The identity of an alert within its group: fingerprint, else its labels."""
    if alert.fingerprint:
        return alert.fingerprint
    return "\x00".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))


def button_value(group_key: str) -> str:
    """The value carried by the message's buttons: the group key when it fits.

    A longer group key is replaced by `sha256:<hex>` of it, which the receiver of
    the action can compute from its stored group keys.
    """
    if len(group_key) <= BUTTON_VALUE_MAX_CHARS:
        return group_key
    return "sha256:" + hashlib.sha256(group_key.encode()).hexdigest()


def alertmanager_silence_url(external_url: str, matchers: dict[str, str]) -> str | None:
    """A link to Alertmanager's form for a new silence, pre-filled with matchers."""
    if not external_url or not matchers:
        return None
    terms = ",".join(
        f'{name}="{_matcher_value(value)}"' for name, value in sorted(matchers.items())
    )
    return (
        f"{external_url.rstrip('/')}/#/silences/new?filter={quote('{' + terms + '}')}"
    )


def build_message(
    state: GroupState,
    *,
    mention: str | None,
    silence_url: str | None,
    acknowledged_by: str | None,
    buttons: bool,
) -> Message:
    """The group's message: header, who is on call, each alert, links, buttons.

    `silence_url` overrides the link built from the group's `externalURL`.
    `mention` and `acknowledged_by` are Slack user ids.
    """
    silence_url = silence_url or alertmanager_silence_url(
        state.external_url, _silence_matchers(state)
    )
    head = [_header(state), _overview(state, mention, acknowledged_by)]
    tail = [_links(state, silence_url)]
    if buttons:
        tail.append(_actions(state.group_key))

    alerts = _ordered(state.alerts)
    shown = _alert_sections(alerts, state.common_labels, head, tail)
    notes = _omission_notes(len(alerts) - len(shown), state.truncated_alerts)
    blocks = [*head, *shown, *notes, *tail]
    return Message(text=_fallback_text(state, mention), blocks=blocks)


def build_resolved_reply(state: GroupState) -> Message:
    """The short thread reply posted when the whole group has resolved."""
    names = _alert_names(state.alerts)
    count = len(state.alerts)
    noun = "alert" if count == 1 else "alerts"
    line = f":white_check_mark: Resolved: {escape(names)} ({count} {noun})"
    line = fit_escaped(line, SECTION_TEXT_MAX_CHARS)
    return Message(text=line, blocks=[_section(line)])


def build_escalation_reply(state: GroupState, mention: str) -> Message:
    """The thread reply that calls the next person when nobody acknowledged."""
    names = escape(_alert_names(state.firing() or state.alerts))
    count = len(state.firing())
    line = (
        f":rotating_light: <@{mention}> {escape(_severity(state))} alert not "
        f"acknowledged: {names} ({count} firing). Please take a look."
    )
    line = fit_escaped(line, SECTION_TEXT_MAX_CHARS)
    return Message(text=line, blocks=[_section(line)])


def build_silenced_reply(user_id: str, silence_id: str, until: datetime) -> Message:
    """The thread reply that says a silence was created, by whom and until when."""
    line = (
        f":mute: <@{user_id}> silenced this group until {date(until)} "
        f"(silence {escape(silence_id)})."
    )
    return Message(text=line, blocks=[_section(line)])


# Blocks ---------------------------------------------------------------------


def _header(state: GroupState) -> dict[str, Any]:
    firing = len(state.firing())
    if state.status == "firing":
        status = f":rotating_light: FIRING {firing}/{len(state.alerts)}"
    else:
        status = ":white_check_mark: RESOLVED"
    text = f"{status} · {_severity(state)} · {_alert_names(state.alerts)}"
    # Measured escaped: plain_text is sent as typed, so this is an upper bound.
    text = _cut_plain(text, HEADER_TEXT_MAX_CHARS)
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": text, "emoji": True},
    }


def _overview(
    state: GroupState, mention: str | None, acknowledged_by: str | None
) -> dict[str, Any]:
    lines = []
    if mention:
        lines.append(f"On call: <@{mention}>")
    if acknowledged_by:
        lines.append(f":eyes: Acknowledged by <@{acknowledged_by}>")
    labels = _label_line(state.common_labels or state.group_labels)
    if labels:
        lines.append(labels)
    if not lines:
        lines.append(f"Receiver: {escape(state.receiver)}")
    text = fit_escaped("\n".join(lines), SECTION_TEXT_MAX_CHARS)
    return _section(text)


def _alert_sections(
    alerts: list[Alert],
    common_labels: dict[str, str],
    head: list[dict[str, Any]],
    tail: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    # Room is kept for the block that counts what was left out.
    slots = MESSAGE_MAX_BLOCKS - len(head) - len(tail) - 1
    budget = BLOCKS_TEXT_MAX_CHARS - sum(_block_length(b) for b in (*head, *tail))
    budget -= _OMISSION_NOTES_MAX_CHARS
    if not alerts or slots <= 0:
        return []
    each = min(SECTION_TEXT_MAX_CHARS, max(budget // min(len(alerts), slots), 0))
    each = max(each, _ALERT_SECTION_MIN_CHARS)

    sections: list[dict[str, Any]] = []
    for alert in alerts:
        text = _alert_text(alert, common_labels, each)
        if len(sections) >= slots or slack_length(text) > budget:
            break
        sections.append(_section(text))
        budget -= slack_length(text)
    return sections


def _alert_text(alert: Alert, common_labels: dict[str, str], budget: int) -> str:
    """One alert as mrkdwn of at most `budget` characters as sent.

    Labels shared by the whole group are left to the overview above.
    """
    own_labels = {k: v for k, v in alert.labels.items() if common_labels.get(k) != v}
    name = escape(alert.labels.get("alertname", "alert"))
    title = fit_escaped(f"{_status_icon(alert)} *{name}* {_timing(alert)}", budget // 4)
    labels = fit_escaped(_label_line(own_labels), budget // 4)
    links = _alert_links(alert, budget // 4)
    fixed = [part for part in (title, labels, links) if part]

    room = budget - sum(slack_length(part) + 1 for part in fixed)
    prose = []
    summary = escape(alert.annotations.get("summary", ""))
    description = escape(alert.annotations.get("description", ""))
    if summary:
        summary = fit_escaped(summary, max(room // 2 if description else room, 0))
        room -= slack_length(summary) + 1
        prose.append(summary)
    if description and room > 1:
        prose.append(fit_escaped(description, room - 1))

    lines = [title, *[p for p in prose if p], *fixed[1:]]
    return fit_escaped("\n".join(lines), budget)


def _alert_links(alert: Alert, budget: int) -> str:
    candidates = [(alert.generator_url, "Source")]
    candidates += [
        (alert.annotations.get(k, ""), label) for k, label in _LINK_ANNOTATIONS
    ]
    links = []
    used = 0
    for url, label in candidates:
        if not url or not _is_web_url(url):
            continue
        rendered = link(url, label)
        if (
            slack_length(rendered) > _URL_MAX_CHARS
            or used + slack_length(rendered) > budget
        ):
            continue
        links.append(rendered)
        used += slack_length(rendered) + 3
    return " · ".join(links)


def _links(state: GroupState, silence_url: str | None) -> dict[str, Any]:
    elements = []
    if state.external_url and _is_web_url(state.external_url):
        elements.append(link(state.external_url, "Alertmanager"))
    if silence_url and _is_web_url(silence_url):
        elements.append(link(silence_url, "Silence"))
    elements.append(f"Group: {fit_escaped(escape(_group_name(state)), 500)}")
    elements = [e for e in elements if slack_length(e) <= SECTION_TEXT_MAX_CHARS]
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": e} for e in elements],
    }


def _actions(group_key: str) -> dict[str, Any]:
    value = button_value(group_key)
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": ACK_ACTION_ID,
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "style": "primary",
                "value": value,
            },
            {
                "type": "button",
                "action_id": SILENCE_ACTION_ID,
                "text": {"type": "plain_text", "text": "Silence 1h"},
                "value": value,
            },
        ],
    }


def _omission_notes(left_out: int, truncated_alerts: int) -> list[dict[str, Any]]:
    notes = []
    if left_out > 0:
        noun = "alert" if left_out == 1 else "alerts"
        notes.append(f"{ELLIPSIS} and {left_out} more {noun} not shown")
    if truncated_alerts > 0:
        noun = "alert" if truncated_alerts == 1 else "alerts"
        notes.append(
            f"Alertmanager left out {truncated_alerts} more {noun} (truncatedAlerts)"
        )
    if not notes:
        return []
    return [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": n} for n in notes]}
    ]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _block_length(block: dict[str, Any]) -> int:
    texts = [block.get("text", {}).get("text", "")]
    texts += [
        e.get("text", "")
        for e in block.get("elements", [])
        if e.get("type") == "mrkdwn"
    ]
    return sum(slack_length(t) for t in texts if isinstance(t, str))


# Wording --------------------------------------------------------------------


def _fallback_text(state: GroupState, mention: str | None) -> str:
    firing = len(state.firing())
    status = f"[FIRING:{firing}]" if state.status == "firing" else "[RESOLVED]"
    # The mention comes early so that no cut can take it away.
    if mention:
        status += f" <@{mention}>"
    text = f"{status} {escape(_severity(state))} {escape(_alert_names(state.alerts))}"
    return fit_escaped(text, MESSAGE_TEXT_MAX_CHARS)


def _ordered(alerts: list[Alert]) -> list[Alert]:
    """Firing alerts first, oldest first, then resolved ones, latest first."""
    firing = sorted(
        (a for a in alerts if a.status == "firing"), key=lambda a: a.starts_at
    )
    resolved = [a for a in alerts if a.status == "resolved"]
    resolved.sort(key=lambda a: a.ends_at or a.starts_at, reverse=True)
    return firing + resolved


def _timing(alert: Alert) -> str:
    if alert.status == "firing":
        return f"firing since {date(alert.starts_at)}"
    # A resolved alert normally carries its end; Alertmanager's zero time is no date.
    if alert.has_end and alert.ends_at is not None:
        return f"resolved at {date(alert.ends_at)}"
    return "resolved"


def _status_icon(alert: Alert) -> str:
    return ":red_circle:" if alert.status == "firing" else ":large_green_circle:"


def _severity(state: GroupState) -> str:
    severities = {a.labels.get("severity", "") for a in state.alerts} - {""}
    if state.common_labels.get("severity"):
        return state.common_labels["severity"]
    return "/".join(sorted(severities)) or "no severity"


def _alert_names(alerts: list[Alert]) -> str:
    names = sorted({a.labels.get("alertname", "alert") for a in alerts})
    if len(names) > 3:
        return ", ".join(names[:3]) + f" and {len(names) - 3} more"
    return ", ".join(names) or "alert"


def _label_line(labels: dict[str, str]) -> str:
    parts = []
    for name in IMPORTANT_LABELS:
        value = labels.get(name)
        if value:
            shown = fit_escaped(escape(value.replace("`", "'")), _LABEL_VALUE_MAX_CHARS)
            parts.append(f"*{name}:* `{shown}`")
    return "  ".join(parts)


def _group_name(state: GroupState) -> str:
    labels = state.group_labels or state.common_labels
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or state.group_key


def _silence_matchers(state: GroupState) -> dict[str, str]:
    return dict(state.group_labels) or dict(state.common_labels)


def _matcher_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _is_web_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _cut_plain(text: str, limit: int) -> str:
    if slack_length(escape(text)) <= limit:
        return text
    kept = []
    used = slack_length(ELLIPSIS)
    for char in text:
        used += slack_length(escape(char))
        if used > limit:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS
