"""The SQLite store: durable once answered, duplicates recognised, order kept."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from alert_gateway.payload import Notification
from alert_gateway.sqlite_store import SqliteStore
from alert_gateway.store import GroupRecord
from tests.alert_gateway.conftest import alert, payload

NOW = 1_772_445_600.0


def _submit(store: SqliteStore, body: dict, now: float = NOW):
    notification = Notification.model_validate(body)
    raw = json.dumps(body).encode()
    return store.submit(notification, raw, team=None, now=now).result(timeout=5)


def test_an_accepted_notification_survives_reopening_the_file(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    accepted = _submit(store, payload())
    store.close()

    # Read with a plain connection: what was answered is in the file.
    with sqlite3.connect(tmp_path / "g.db") as conn:
        rows = conn.execute("SELECT id, state FROM notifications").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()
    assert rows == [(accepted.notification_id, "pending")]
    assert mode == ("wal",)


def test_retries_and_ha_twins_are_recognised(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    body = payload(alerts=[alert("A"), alert("B")])
    twin = {**body, "alerts": list(reversed(body["alerts"])), "receiver": "other-am"}
    resolved = payload(
        alerts=[alert("A", status="resolved", ends_at="2026-03-02T10:05:00Z")]
    )

    results = [_submit(store, b) for b in (body, body, twin, resolved)]
    store.close()

    assert [r.duplicate for r in results] == [False, True, True, False]


def test_concurrent_submissions_share_commits_and_none_is_lost(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    bodies = [payload(f"{{}}:{{g{i % 7}}}", [alert(f"N{i}")]) for i in range(300)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda b: _submit(store, b), bodies))

    assert not any(r.duplicate for r in results)
    assert store.queue_depth() == 300
    assert len({r.notification_id for r in results}) == 300
    store.close()


def test_a_group_waits_behind_its_oldest_notification(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    first = _submit(store, payload("g1", [alert("A")]))
    _submit(store, payload("g1", [alert("A"), alert("B")]))
    _submit(store, payload("g2", [alert("C")]))

    store.retry_later([first.notification_id], at=NOW + 60, reason="server_error")
    due_now = [d.group_key for d in store.due_groups(NOW + 1, limit=10)]
    due_later = [d.group_key for d in store.due_groups(NOW + 61, limit=10)]

    assert due_now == ["g2"]
    assert due_later == ["g1", "g2"]
    assert store.next_due_at(NOW + 1) == NOW + 60
    assert [p.attempts for p in store.pending("g1", limit=10)] == [1, 0]
    store.close()


def test_saving_a_group_marks_its_notifications_delivered_atomically(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    accepted = _submit(store, payload("g1"))
    record = GroupRecord(
        "g1", channel="C1", ts="1.000001", status="firing", updated_at=NOW
    )

    store.save_group(record, delivered=[accepted.notification_id])
    store.close()
    store = SqliteStore(tmp_path / "g.db")

    assert store.queue_depth() == 0
    assert store.group("g1").ts == "1.000001"
    store.close()


def test_acknowledgement_is_kept_when_the_worker_saves_the_group(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    store.save_group(GroupRecord("g1", channel="C1", ts="1.1", firing_since=NOW))
    stale = store.group("g1")

    store.acknowledge("g1", user="U0BOB", now=NOW + 5)
    store.save_group(stale)

    record = store.group("g1")
    assert record.current_acknowledgement == "U0BOB"
    assert [r.group_key for r in store.groups_to_refresh()] == ["g1"]
    store.close()


def test_dead_letters_are_listed_with_their_reason(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    accepted = _submit(store, payload("g1"))

    store.dead_letter(
        [accepted.notification_id],
        group_key="g1",
        channel="#x",
        reason="not_in_channel",
        now=NOW,
    )

    [letter] = store.dead_letters()
    assert (letter.group_key, letter.reason, letter.received_at) == (
        "g1",
        "not_in_channel",
        NOW,
    )
    assert store.queue_depth() == 0
    store.close()


def test_close_commits_what_was_queued(tmp_path):
    store = SqliteStore(tmp_path / "g.db")
    futures = [
        store.submit(
            Notification.model_validate(payload(f"g{i}")),
            b"{}",
            team=None,
            now=NOW,
        )
        for i in range(50)
    ]
    store.close()

    assert all(not f.result(timeout=1).duplicate for f in futures)
    with sqlite3.connect(tmp_path / "g.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM notifications").fetchone() == (50,)
