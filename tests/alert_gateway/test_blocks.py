import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from alert_gateway.blocks import (
    BLOCKS_TEXT_MAX_CHARS,
    BUTTON_VALUE_MAX_CHARS,
    HEADER_TEXT_MAX_CHARS,
    MESSAGE_MAX_BLOCKS,
    MESSAGE_TEXT_MAX_CHARS,
    SECTION_TEXT_MAX_CHARS,
    GroupState,
    Message,
    alert_key,
    build_escalation_reply,
    build_message,
    build_resolved_reply,
    button_value,
)
from alert_gateway.mrkdwn import ELLIPSIS, slack_length
from alert_gateway.payload import Notification

NO_END = "0001-01-01T00:00:00Z"
NOW_TEXT = "2026-12-04T15:00:00Z"
# Our own markup: a mention, a link, or a date shown in the reader's time zone.
MARKUP = r"<(@U\w+|https?://[^<>\s|]+\|[^<>]*|!date\^\d+\^[^|<>]+\|[^<>]+)>"


def alert(
    name: str = "HighErrorRate",
    *,
    status: str = "firing",
    fingerprint: str = "",
    ends_at: str = NO_END,
    **extra_labels: str,
) -> dict[str, Any]:
    labels = {"alertname": name, "severity": "critical", "service": "orders"}
    labels.update(extra_labels)
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{name} summary", "description": "details"},
        "startsAt": "2026-12-04T15:00:00Z",
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any], **fields: Any) -> Notification:
    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "status": "firing",
        "receiver": "gateway",
        "groupLabels": {"alertname": "HighErrorRate", "team": "platform"},
        "commonLabels": {"severity": "critical", "team": "platform"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": list(alerts) or [alert(fingerprint="f1")],
    }
    payload.update(fields)
    return Notification.model_validate(payload)


def message_for(n: Notification, **options: Any) -> Message:
    settings = {
        "mention": None,
        "silence_url": None,
        "acknowledged_by": None,
        "buttons": False,
    }
    settings.update(options)
    return build_message(GroupState.from_notification(n), **settings)


def block_texts(message: Message) -> list[str]:
    texts = []
    for block in message.blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if e["type"] == "mrkdwn"]
    return texts


def assert_within_limits(message: Message) -> None:
    assert len(message.blocks) <= MESSAGE_MAX_BLOCKS
    assert slack_length(message.text) <= MESSAGE_TEXT_MAX_CHARS
    assert sum(slack_length(t) for t in block_texts(message)) <= BLOCKS_TEXT_MAX_CHARS
    for block in message.blocks:
        if block["type"] == "header":
            assert slack_length(block["text"]["text"]) <= HEADER_TEXT_MAX_CHARS
        elif "text" in block:
            assert slack_length(block["text"]["text"]) <= SECTION_TEXT_MAX_CHARS
    for text in [message.text, *block_texts(message)]:
        assert_escapes_whole(text)
        text.encode("utf-8")


def assert_escapes_whole(text: str) -> None:
    """Every `&` starts one of the three escapes; every `<` opens our markup."""
    for match in re.finditer("&", text):
        assert re.match("&(amp|lt|gt);", text[match.start() :]), text
    for match in re.finditer("<", text):
        assert re.match(MARKUP, text[match.start() :]), text


# Group state -----------------------------------------------------------------


def test_alerts_with_the_same_fingerprint_are_one_alert() -> None:
    n = notification(alert(fingerprint="f1"), alert(fingerprint="f1"))

    assert len(GroupState.from_notification(n).alerts) == 1


def test_alerts_without_fingerprint_are_told_apart_by_sorted_labels() -> None:
    first = alert(fingerprint="", instance="a:80")
    second = alert(fingerprint="", instance="b:80")
    reordered = dict(first, labels=dict(reversed(list(first["labels"].items()))))

    state = GroupState.from_notification(notification(first, second, reordered))

    assert len(state.alerts) == 2
    assert alert_key(state.alerts[0]) != alert_key(state.alerts[1])


def test_merge_keeps_each_alerts_latest_status() -> None:
    state = GroupState.from_notification(
        notification(alert(fingerprint="f1"), alert(fingerprint="f2"))
    )

    later = notification(
        alert(fingerprint="f1", status="resolved", ends_at="2026-12-04T15:10:00Z"),
        alert(fingerprint="f3"),
        truncatedAlerts=4,
    )
    merged = state.merge(later)

    statuses = {a.fingerprint: a.status for a in merged.alerts}
    assert statuses == {"f1": "resolved", "f2": "firing", "f3": "firing"}
    assert merged.status == "firing"
    assert merged.truncated_alerts == 4
    assert [a.status for a in state.alerts] == ["firing", "firing"]


def test_firing_notice_older_than_a_known_resolution_is_ignored() -> None:
    done = alert(fingerprint="f1", status="resolved", ends_at="2026-12-04T15:10:00Z")
    state = GroupState.from_notification(notification(done, status="resolved"))

    late = state.merge(notification(alert(fingerprint="f1")))
    refired = alert(fingerprint="f1")
    refired["startsAt"] = "2026-12-04T15:20:00Z"
    again = state.merge(notification(refired))

    assert [a.status for a in late.alerts] == ["resolved"]
    assert [a.status for a in again.alerts] == ["firing"]


def test_resolution_older_than_a_refire_is_ignored() -> None:
    refired = alert(fingerprint="f1")
    refired["startsAt"] = "2026-12-04T15:20:00Z"
    state = GroupState.from_notification(notification(refired))

    old_end = alert(fingerprint="f1", status="resolved", ends_at="2026-12-04T15:10:00Z")
    merged = state.merge(notification(old_end, status="resolved"))

    assert [a.status for a in merged.alerts] == ["firing"]


def test_group_is_resolved_when_every_alert_is() -> None:
    state = GroupState.from_notification(notification(alert(fingerprint="f1")))
    done = alert(fingerprint="f1", status="resolved", ends_at="2026-12-04T15:10:00Z")

    merged = state.merge(notification(done, status="resolved"))

    assert merged.status == "resolved"
    assert merged.firing() == []


# Content ---------------------------------------------------------------------


def test_message_shows_status_severity_names_summaries_and_labels() -> None:
    n = notification(alert(fingerprint="f1", instance="db-1:5432", env="prod"))

    message = message_for(n)
    everything = json.dumps(message.blocks)

    header = message.blocks[0]["text"]["text"]
    assert "FIRING" in header and "critical" in header and "HighErrorRate" in header
    assert "HighErrorRate summary" in everything
    assert "details" in everything
    for value in ("db-1:5432", "prod", "orders", "platform"):
        assert f"`{value}`" in everything


def test_message_links_source_runbook_dashboard_and_alertmanager() -> None:
    raw = alert(fingerprint="f1")
    raw["annotations"]["runbook_url"] = "https://runbooks/orders#errors"
    raw["annotations"]["dashboard_url"] = "https://grafana/d/orders"

    texts = "\n".join(block_texts(message_for(notification(raw))))

    assert "<http://prometheus:9090/graph?g0.expr=up&amp;g0.tab=1|Source>" in texts
    assert "<https://runbooks/orders#errors|Runbook>" in texts
    assert "<https://grafana/d/orders|Dashboard>" in texts
    assert "<http://alertmanager:9093|Alertmanager>" in texts


def test_silence_link_prefills_the_group_labels_as_matchers() -> None:
    texts = "\n".join(block_texts(message_for(notification())))

    url = re.search(r"<([^|>]+)\|Silence>", texts)
    assert url is not None
    parts = urlsplit(url.group(1).replace("&amp;", "&"))
    assert parts.netloc == "alertmanager:9093"
    fragment_path, _, query = parts.fragment.partition("?")
    assert fragment_path == "/silences/new"
    matchers = unquote(parse_qs(query)["filter"][0])
    assert matchers == '{alertname="HighErrorRate",team="platform"}'


def test_given_silence_url_replaces_the_built_one() -> None:
    message = message_for(notification(), silence_url="https://am.example/custom")

    assert "<https://am.example/custom|Silence>" in "\n".join(block_texts(message))


def test_mention_and_acknowledgement_name_slack_users() -> None:
    message = message_for(notification(), mention="U0ALICE", acknowledged_by="U0BOB")
    texts = "\n".join(block_texts(message))

    assert "<@U0ALICE>" in texts
    assert "Acknowledged by <@U0BOB>" in texts
    assert "<@U0ALICE>" in message.text


def test_without_mention_nobody_is_called() -> None:
    message = message_for(notification())

    assert "<@" not in json.dumps(message.blocks) + message.text


def test_buttons_carry_ack_and_silence_with_the_group_key() -> None:
    n = notification()

    with_buttons = message_for(n, buttons=True)
    without = message_for(n, buttons=False)

    actions = [b for b in with_buttons.blocks if b["type"] == "actions"]
    assert len(actions) == 1
    elements = actions[0]["elements"]
    assert [e["action_id"] for e in elements] == ["ack", "silence_1h"]
    assert {e["value"] for e in elements} == {n.group_key}
    assert not [b for b in without.blocks if b["type"] == "actions"]


def test_overlong_group_key_becomes_a_hash_that_fits_a_button() -> None:
    key = "{}:" + "x" * 5000

    value = button_value(key)

    assert len(value) <= BUTTON_VALUE_MAX_CHARS
    assert value.startswith("sha256:")
    assert button_value(key) == value != button_value(key + "y")


def test_zero_end_time_is_never_shown() -> None:
    firing = alert(fingerprint="f1")
    oddly_resolved = alert("DiskFull", status="resolved", fingerprint="f2")

    message = message_for(notification(firing, oddly_resolved))
    shown = json.dumps(message.blocks) + message.text

    assert "0001" not in shown
    assert "firing since <!date^1796396400^" in shown
    assert "|2026-12-04 15:00:00 UTC>" in shown


def test_resolved_alert_shows_its_end() -> None:
    done = alert(fingerprint="f1", status="resolved", ends_at="2026-12-04T15:10:00Z")

    shown = json.dumps(message_for(notification(done, status="resolved")).blocks)

    assert "resolved at <!date^1796397000^" in shown
    assert "|2026-12-04 15:10:00 UTC>" in shown
    assert "RESOLVED" in shown


def test_group_shows_firing_and_resolved_alerts_side_by_side() -> None:
    done = alert(
        "DiskFull", status="resolved", fingerprint="f2", ends_at="2026-12-04T15:10:00Z"
    )
    state = GroupState.from_notification(notification(alert(fingerprint="f1"), done))

    message = build_message(
        state, mention=None, silence_url=None, acknowledged_by=None, buttons=False
    )
    texts = block_texts(message)

    assert any(":red_circle: *HighErrorRate*" in t for t in texts)
    assert any(":large_green_circle: *DiskFull*" in t for t in texts)
    assert "FIRING 1/2" in message.blocks[0]["text"]["text"]


def test_user_text_is_escaped_and_cannot_mention_anyone() -> None:
    raw = alert(fingerprint="f1")
    raw["annotations"]["summary"] = "p99 > 5s & <!channel> <@UEVIL>"

    message = message_for(notification(raw))
    texts = "\n".join(block_texts(message))

    assert "p99 &gt; 5s &amp; &lt;!channel&gt; &lt;@UEVIL&gt;" in texts
    assert "<!channel>" not in texts and "<@UEVIL>" not in texts


def test_replies_name_the_alerts_and_the_person_called() -> None:
    state = GroupState.from_notification(notification())

    resolved = build_resolved_reply(state)
    escalation = build_escalation_reply(state, "U0BOB")

    assert "Resolved" in resolved.text and "HighErrorRate" in resolved.text
    assert "<@U0BOB>" in escalation.text and "HighErrorRate" in escalation.text
    assert escalation.blocks[0]["text"]["text"] == escalation.text


# Limits ----------------------------------------------------------------------


def test_long_description_is_cut_to_the_section_limit() -> None:
    raw = alert(fingerprint="f1")
    raw["annotations"]["description"] = "<&>" * 4000

    message = message_for(notification(raw))

    assert_within_limits(message)
    section = next(t for t in block_texts(message) if "HighErrorRate summary" in t)
    assert ELLIPSIS in section
    assert "&lt;&amp;&gt;" in section


def test_emoji_and_escapes_at_every_cut_point_stay_whole() -> None:
    alerts = []
    for shift in range(12):
        raw = alert(f"Alert{shift}", fingerprint=f"f{shift}", instance="é&" * 150)
        raw["annotations"] = {
            "summary": "x" * shift + "🔥&<>é" * 1000,
            "description": "y" * shift + "<&>🚒" * 1000,
        }
        alerts.append(raw)

    message = message_for(notification(*alerts))

    assert_within_limits(message)
    assert any("🔥&amp;&lt;&gt;é" in t for t in block_texts(message))


def test_many_alerts_are_cut_with_a_count_of_those_left_out() -> None:
    alerts = [alert(f"Alert{i:03d}", fingerprint=f"f{i}") for i in range(300)]

    message = message_for(notification(*alerts, truncatedAlerts=12), buttons=True)

    assert_within_limits(message)
    shown = sum(1 for t in block_texts(message) if t.startswith(":red_circle:"))
    notes = "\n".join(block_texts(message))
    assert 0 < shown < 300
    assert f"{ELLIPSIS} and {300 - shown} more alerts not shown" in notes
    assert "12 more alerts (truncatedAlerts)" in notes
    assert message.blocks[-1]["type"] == "actions"


def test_short_alerts_fill_exactly_the_block_limit() -> None:
    bare = [
        {"status": "firing", "labels": {"alertname": f"A{i}"}, "startsAt": NOW_TEXT}
        for i in range(300)
    ]

    message = message_for(notification(*bare), buttons=True)

    assert_within_limits(message)
    assert len(message.blocks) == MESSAGE_MAX_BLOCKS
    shown = sum(1 for t in block_texts(message) if t.startswith(":red_circle:"))
    assert f"and {300 - shown} more alerts not shown" in "\n".join(block_texts(message))


def test_long_alert_names_are_cut_in_header_and_fallback_text() -> None:
    names = [f"{i}" + "N" * 50_000 for i in range(3)]
    alerts = [alert(name, fingerprint=name[:1]) for name in names]

    message = message_for(notification(*alerts), mention="U0ALICE")

    assert_within_limits(message)
    assert message.text.endswith(ELLIPSIS)
    assert "<@U0ALICE>" in message.text


_words = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs", "So")),
    max_size=4000,
)


@settings(max_examples=40, deadline=None)
@given(
    summaries=st.lists(_words, min_size=1, max_size=70),
    label_value=st.text(max_size=300),
    url_tail=st.text(max_size=2000),
)
def test_any_group_fits_every_slack_limit(
    summaries: list[str], label_value: str, url_tail: str
) -> None:
    alerts = []
    for i, summary in enumerate(summaries):
        raw = alert(f"Alert{i}", fingerprint=f"f{i}", instance=label_value)
        raw["annotations"] = {"summary": summary, "description": summary[::-1]}
        raw["generatorURL"] = "http://prometheus/graph?" + url_tail
        alerts.append(raw)

    message = message_for(
        notification(*alerts), mention="U0ALICE", acknowledged_by="U0BOB", buttons=True
    )

    assert_within_limits(message)
    shown = sum(1 for t in block_texts(message) if t.startswith(":red_circle:"))
    if shown < len(summaries):
        notes = "\n".join(block_texts(message))
        assert f"and {len(summaries) - shown} more alert" in notes
    json.dumps(message.blocks)
