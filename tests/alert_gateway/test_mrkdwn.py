from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from alert_gateway.mrkdwn import (
    ELLIPSIS,
    date,
    escape,
    fit_escaped,
    link,
    slack_length,
)


def test_escape_turns_the_three_control_characters_into_entities() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


def test_link_encodes_what_would_end_the_markup() -> None:
    rendered = link("http://x/a b|c<d>e?f=1&g=2", "Run <book>")

    assert rendered == "<http://x/a%20b%7Cc%3Cd%3Ee?f=1&amp;g=2|Run &lt;book&gt;>"


def test_date_is_shown_in_the_readers_zone_with_a_utc_fallback() -> None:
    madrid_winter = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 4, 16, 0, tzinfo=madrid_winter)

    markup = date(moment)

    epoch = int(datetime(2026, 12, 4, 15, 0, tzinfo=UTC).timestamp())
    assert markup == (
        f"<!date^{epoch}^{{date_short_pretty}} {{time_secs}}|2026-12-04 15:00:00 UTC>"
    )


def test_length_counts_characters_outside_the_basic_plane_twice() -> None:
    assert slack_length("abc") == 3
    assert slack_length("é") == 1
    assert slack_length("🔥") == 2


def test_cut_never_splits_an_escape() -> None:
    escaped = escape("ab&cd")  # ab&amp;cd

    cuts = [fit_escaped(escaped, limit) for limit in range(1, len(escaped) + 1)]

    assert (
        cuts[:-1]
        == [
            "…",
            "a…",
            "ab…",
            "ab…",
            "ab…",
            "ab…",
            "ab…",
            "ab&amp;…",
            "ab&amp;c…",
        ][: len(cuts) - 1]
    )
    assert cuts[-1] == escaped


def test_cut_never_splits_a_multibyte_character() -> None:
    text = "ok 🔥🔥 é"

    cut = fit_escaped(text, 6)

    assert cut == "ok 🔥…"
    assert slack_length(cut) == 6
    cut.encode("utf-8")


def test_cut_keeps_our_markup_whole_or_drops_it() -> None:
    text = "call <@U0ALICE> now"

    assert fit_escaped(text, 12) == "call …"
    assert fit_escaped(text, 16) == "call <@U0ALICE>…"


@settings(max_examples=200, deadline=None)
@given(text=st.text(), limit=st.integers(min_value=1, max_value=60))
def test_cut_text_is_a_whole_prefix_within_the_limit(text: str, limit: int) -> None:
    escaped = escape(text)

    cut = fit_escaped(escaped, limit)

    assert slack_length(cut) <= limit
    if cut == escaped:
        return
    assert cut.endswith(ELLIPSIS)
    kept = cut[: -len(ELLIPSIS)]
    assert escaped.startswith(kept)
    unescaped = kept.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert text.startswith(unescaped)
    assert escape(unescaped) == kept
