"""One suite for both stores (SQLite and a real PostgreSQL), plus the deadline arithmetic."""

import asyncio
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.deadlines import add_months, due_date, is_overdue
from bot.errors import ConfigError, NotFound, StoreError
from bot.store import Store, Ticket, open_store
from bot.store.schema import LATEST_VERSION
from tests.pg import free_port
from tests.stores import T0, Backend, due_mail, new_ticket


async def test_migrate_is_idempotent(store: Store, stores: Callable[[], Store]) -> None:
    assert await store.migrate() == LATEST_VERSION
    other = stores()
    assert await other.migrate() == LATEST_VERSION
    await other.ping()
    # the schema still works after the repeated migrations
    assert (await other.create_ticket(new_ticket()))[1] is True


async def test_concurrent_migrations(stores: Callable[[], Store]) -> None:
    results = await asyncio.gather(*(stores().migrate() for _ in range(3)))
    assert results == [LATEST_VERSION] * 3


async def test_create_is_idempotent_on_source_message_id(store: Store) -> None:
    first, created = await store.create_ticket(new_ticket())
    again, created_again = await store.create_ticket(new_ticket(original_text="changed"))
    assert (created, created_again) == (True, False)
    assert again == first
    assert first.status == "open" and first.closed_at is None
    assert first.original_text == "Slet venligst alle mine oplysninger. Tak!"
    assert first.requester_name == "Kunde Æbleø"
    assert first.sections == ("11", "5.3") and first.routes[1] == "account-settings"
    assert first.received_at == T0 and first.due_date == date(2026, 2, 28)
    assert first.created_at.tzinfo is not None and first.identity_verified is False
    assert [h.action for h in first.history] == ["created"]
    assert first.history[0].to_status == "open"
    assert await store.get_ticket(first.id) == first
    assert len(await store.list_tickets()) == 1


async def test_concurrent_creates_from_two_connections(stores: Callable[[], Store]) -> None:
    a, b, c = stores(), stores(), stores()
    await a.migrate()
    for round_ in range(5):
        t = new_ticket(f"<race-{round_}@example.com>")
        results = await asyncio.gather(a.create_ticket(t), b.create_ticket(t), c.create_ticket(t))
        assert len({ticket.id for ticket, _ in results}) == 1
        assert sorted(created for _, created in results) == [False, False, True]
    tickets = await a.list_tickets()
    assert len(tickets) == 5
    assert all(len(t.history) == 1 for t in tickets)


_CREATE_IN_CHILD = """
import asyncio, json, sys
from pathlib import Path
from bot.store import open_store
from tests.stores import new_ticket

async def main() -> None:
    store = open_store(sys.argv[1] or None, Path(sys.argv[2]))
    try:
        ticket, created = await store.create_ticket(new_ticket("<two-processes@x>"))
    finally:
        await store.close()
    print(json.dumps([ticket.id, created]))

asyncio.run(main())
"""


async def test_concurrent_creates_from_two_processes(store: Store, backend: Backend) -> None:
    url, path = backend
    root = Path(__file__).resolve().parents[1]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CREATE_IN_CHILD,
            url or "",
            str(path),
            cwd=root,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert results[0][0] == results[1][0]
    assert sorted(created for _, created in results) == [False, True]
    assert len(await store.list_tickets()) == 1


async def test_ticket_id_format_and_sequence(store: Store) -> None:
    ids = [(await store.create_ticket(new_ticket(f"<s{i}@x>")))[0].id for i in range(3)]
    assert all(re.fullmatch(r"PRIV-2026-\d{6}", i) for i in ids), ids
    numbers = [int(i.rsplit("-", 1)[1]) for i in ids]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3 and numbers[0] >= 1
    later = T0.replace(year=2027, month=3, day=2)
    next_year = (await store.create_ticket(new_ticket("<s9@x>", received_at=later)))[0]
    assert next_year.id.startswith("PRIV-2027-")
    assert int(next_year.id.rsplit("-", 1)[1]) > numbers[-1]
    assert [t.id for t in await store.list_tickets()] == [*ids, next_year.id]


async def test_status_changes_are_recorded(store: Store) -> None:
    t, _ = await store.create_ticket(new_ticket())
    t = await store.set_status(t.id, "awaiting_identity", actor="U123", note="confirm address")
    t = await store.set_status(t.id, "done", actor="anna", note="data erased")
    assert t.status == "done" and t.closed_at is not None and not t.is_open
    steps = [(h.actor, h.action, h.from_status, h.to_status, h.note) for h in t.history[1:]]
    assert steps == [
        ("U123", "status", "open", "awaiting_identity", "confirm address"),
        ("anna", "status", "awaiting_identity", "done", "data erased"),
    ]
    assert t.history[1].at <= t.history[2].at
    reopened = await store.set_status(t.id, "open", actor="anna", note="requester wrote again")
    assert reopened.closed_at is None and reopened.is_open and len(reopened.history) == 4
    with pytest.raises(ValueError):
        await store.set_status(t.id, "closed", actor="anna", note="x")
    with pytest.raises(NotFound):
        await store.set_status("PRIV-2026-999999", "done", actor="anna", note="x")
    assert await store.get_ticket("PRIV-2026-999999") is None


async def test_extend_ticket(store: Store) -> None:
    t, _ = await store.create_ticket(new_ticket())
    new_due = add_months(t.due_date, 2)
    ext = await store.extend_ticket(t.id, new_due, actor="anna", reason="complex request")
    assert ext.status == "extended" and ext.extended_due_date == date(2026, 4, 28)
    assert ext.due_date == t.due_date and ext.effective_due_date == new_due and ext.is_open
    last = ext.history[-1]
    assert (last.action, last.from_status, last.to_status) == ("extended", "open", "extended")
    assert last.note is not None and "complex request" in last.note and "2026-04-28" in last.note
    with pytest.raises(ValueError):
        await store.extend_ticket(t.id, t.due_date, actor="anna", reason="too early")
    with pytest.raises(NotFound):
        await store.extend_ticket("PRIV-2026-999999", new_due, actor="anna", reason="x")


async def test_list_open_and_overdue(store: Store) -> None:
    early = (await store.create_ticket(new_ticket("<a@x>", due_date=date(2026, 2, 1))))[0]
    done = (await store.create_ticket(new_ticket("<b@x>", due_date=date(2026, 2, 1))))[0]
    later = (await store.create_ticket(new_ticket("<c@x>", due_date=date(2026, 3, 1))))[0]
    extended = (await store.create_ticket(new_ticket("<d@x>", due_date=date(2026, 2, 1))))[0]
    await store.set_status(done.id, "done", actor="anna", note="answered")
    await store.extend_ticket(extended.id, date(2026, 4, 1), actor="anna", reason="complex")

    def ids(tickets: list[Ticket]) -> list[str]:
        return [t.id for t in tickets]

    assert ids(await store.list_tickets()) == [early.id, done.id, later.id, extended.id]
    assert ids(await store.list_tickets(open_only=True)) == [early.id, later.id, extended.id]
    assert ids(await store.list_tickets(overdue_on=date(2026, 2, 1))) == []
    assert ids(await store.list_tickets(overdue_on=date(2026, 2, 2))) == [early.id]
    assert ids(await store.list_tickets(overdue_on=date(2026, 3, 2))) == [early.id, later.id]
    overdue_all = await store.list_tickets(open_only=True, overdue_on=date(2026, 4, 2))
    assert ids(overdue_all) == [early.id, later.id, extended.id]
    assert all(is_overdue(t.effective_due_date, date(2026, 4, 2)) for t in overdue_all)


async def test_outbox_retry_cycle(store: Store) -> None:
    raw = b"Subject: hej\r\n\r\n\xe6\xf8\xe5 \x00\xff body"
    first = await store.enqueue_mail(
        message=raw, recipients=("a@x.dk", "b@x.dk"), purpose="ticket", next_attempt_at=T0
    )
    second = await store.enqueue_mail(
        message=b"later",
        recipients=("c@x.dk",),
        purpose="ack",
        next_attempt_at=T0 + timedelta(hours=1),
    )
    assert first != second
    due = await due_mail(store, T0)
    assert [m.id for m in due] == [first]
    item = due[0]
    assert item.message == raw and item.recipients == ("a@x.dk", "b@x.dk")
    assert (item.purpose, item.attempts, item.last_error, item.sent_at) == ("ticket", 0, None, None)
    assert item.next_attempt_at == T0

    await store.mark_mail_failed(first, "connection refused", T0 + timedelta(minutes=5))
    assert await due_mail(store, T0) == []
    await store.mark_mail_failed(first, "timeout", T0 + timedelta(minutes=30))
    due = await due_mail(store, T0 + timedelta(hours=2))
    assert [m.id for m in due] == [first, second]
    assert (due[0].attempts, due[0].last_error) == (2, "timeout")
    assert len(await due_mail(store, T0 + timedelta(hours=2), limit=1)) == 1

    await store.mark_mail_sent(first, T0 + timedelta(hours=2))
    assert [m.id for m in await due_mail(store, T0 + timedelta(days=1))] == [second]
    with pytest.raises(NotFound):
        await store.mark_mail_sent(999_999, T0)
    with pytest.raises(NotFound):
        await store.mark_mail_failed(999_999, "x", T0)


async def test_claim_inbound_leases(store: Store) -> None:
    key = "<CAF=abc@mail.example.com>"
    assert await store.claim_inbound(key, "w1", T0, 60) is True
    assert await store.claim_inbound(key, "w2", T0 + timedelta(seconds=30), 60) is False
    assert await store.claim_inbound(key, "w1", T0 + timedelta(seconds=30), 60) is False
    assert await store.inbound_outcome(key) is None
    # w1 died: its lease expires and w2 takes the message over
    assert await store.claim_inbound(key, "w2", T0 + timedelta(seconds=61), 60) is True
    assert await store.claim_inbound(key, "w3", T0 + timedelta(seconds=90), 60) is False
    finished = T0 + timedelta(seconds=95)
    assert await store.finish_inbound(
        key, action="reply", reason="answered 11", ticket_id=None, now=finished
    ) == (True, ())
    assert await store.claim_inbound(key, "w3", T0 + timedelta(days=30), 60) is False
    assert await store.finish_inbound(
        key, action="ignore", reason="late", ticket_id=None, now=finished + timedelta(seconds=1)
    ) == (False, ())
    assert await store.inbound_outcome(key) == {
        "action": "reply",
        "reason": "answered 11",
        "ticket_id": None,
        "finished_at": finished,
    }
    # finishing without a claim (e.g. an ignored message) records the outcome too
    assert await store.finish_inbound(
        "<other@x>", action="ticket", reason="erasure", ticket_id="PRIV-2026-000001", now=T0
    ) == (True, ())
    outcome = await store.inbound_outcome("<other@x>")
    assert outcome is not None and outcome["ticket_id"] == "PRIV-2026-000001"
    assert await store.claim_inbound("<other@x>", "w1", T0, 60) is False
    assert await store.inbound_outcome("<never@x>") is None
    with pytest.raises(ValueError):
        await store.claim_inbound("<k@x>", "w1", T0, 0)


async def test_two_workers_claim_at_once(stores: Callable[[], Store]) -> None:
    a, b = stores(), stores()
    await a.migrate()
    for i in range(10):
        results = await asyncio.gather(
            a.claim_inbound(f"<m{i}@x>", "wa", T0, 300), b.claim_inbound(f"<m{i}@x>", "wb", T0, 300)
        )
        assert sorted(results) == [False, True]


async def test_auto_reply_log(store: Store) -> None:
    for minutes in (0, 10, 20):
        await store.record_auto_reply("kunde@example.dk", T0 + timedelta(minutes=minutes))
    await store.record_auto_reply("other@example.dk", T0)
    assert await store.count_auto_replies("kunde@example.dk", T0) == 3
    assert await store.count_auto_replies("kunde@example.dk", T0 + timedelta(minutes=5)) == 2
    assert await store.count_auto_replies("nobody@example.dk", T0) == 0


async def test_remember_event(store: Store) -> None:
    assert await store.remember_event("Ev123", T0) is True
    assert await store.remember_event("Ev123", T0 + timedelta(seconds=5)) is False
    assert await store.remember_event("Ev124", T0) is True


async def test_gaps(store: Store) -> None:
    await store.add_gap(text="Må I sælge mine data?", lang="da", score=0.21, at=T0)
    await store.add_gap(text="do you use AI?", lang="en", score=0.0, at=T0 + timedelta(days=2))
    gaps = await store.list_gaps(T0 - timedelta(days=1))
    assert [(g.text, g.lang) for g in gaps] == [
        ("Må I sælge mine data?", "da"),
        ("do you use AI?", "en"),
    ]
    assert gaps[0].score == pytest.approx(0.21) and gaps[0].at == T0
    assert [g.text for g in await store.list_gaps(T0 + timedelta(days=1))] == ["do you use AI?"]


async def test_purge_blanks_bodies_and_keeps_metadata(store: Store) -> None:
    old, _ = await store.create_ticket(new_ticket("<old@x>"))
    await store.set_status(old.id, "done", actor="anna", note="erased")
    new, _ = await store.create_ticket(new_ticket("<new@x>"))
    cut = new.created_at  # `old` was created before it, `new` not
    sent = await store.enqueue_mail(
        message=b"m", recipients=("a@x",), purpose="ack", next_attempt_at=cut - timedelta(days=1)
    )
    await store.mark_mail_sent(sent, cut - timedelta(days=1))
    queued = await store.enqueue_mail(
        message=b"q", recipients=("a@x",), purpose="ack", next_attempt_at=cut - timedelta(days=1)
    )
    await store.add_gap(text="old question", lang="en", score=0.1, at=cut - timedelta(days=1))
    await store.add_gap(text="new question", lang="en", score=0.1, at=cut)
    await store.record_auto_reply("a@x", cut - timedelta(days=1))
    await store.record_auto_reply("a@x", cut)
    await store.remember_event("Ev-old", cut - timedelta(days=1))
    await store.claim_inbound("<in@x>", "w1", cut - timedelta(days=1), 60)
    await store.finish_inbound(
        "<in@x>", action="reply", reason="answered", ticket_id=None, now=cut - timedelta(days=1)
    )

    counts = await store.purge(cut)
    assert counts == {
        "tickets": 1,
        "outbox": 1,
        "dead_mail": 0,
        "gaps": 1,
        "inbound": 1,
        "auto_replies": 1,
        "events": 1,
    }
    purged = await store.get_ticket(old.id)
    assert purged is not None
    assert (purged.original_text, purged.subject) == ("", None)
    assert (purged.id, purged.kind, purged.requester, purged.status, purged.due_date) == (
        old.id,
        old.kind,
        old.requester,
        "done",
        old.due_date,
    )
    assert purged.sections == old.sections and purged.received_at == old.received_at
    assert [h.action for h in purged.history] == ["created", "status", "purged"]
    kept = await store.get_ticket(new.id)
    assert kept == new
    assert [m.id for m in await due_mail(store, cut + timedelta(days=1))] == [queued]
    assert [g.text for g in await store.list_gaps(cut - timedelta(days=10))] == ["new question"]
    assert await store.count_auto_replies("a@x", cut - timedelta(days=10)) == 1
    assert await store.remember_event("Ev-old", cut) is True
    # the outcome of an old message stays, so it is never handled twice
    assert await store.claim_inbound("<in@x>", "w2", cut + timedelta(days=1), 60) is False
    outcome = await store.inbound_outcome("<in@x>")
    assert outcome is not None and outcome["action"] == "reply" and outcome["reason"] is None
    assert await store.purge(cut) == dict.fromkeys(counts, 0)


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.create_ticket(new_ticket(received_at=datetime(2026, 1, 1)))
    with pytest.raises(ValueError):
        await store.remember_event("Ev1", datetime(2026, 1, 1))


async def test_closed_store_raises_store_error(stores: Callable[[], Store]) -> None:
    s = stores()
    await s.ping()
    await s.close()
    await s.close()
    with pytest.raises(StoreError):
        await s.ping()


def test_open_store_picks_backend(tmp_path: Path) -> None:
    assert open_store(None, tmp_path / "a.db").backend == "sqlite"
    assert open_store("  ", tmp_path / "a.db").backend == "sqlite"
    for url in ("postgres://u:p@db:5432/x", "postgresql://u@localhost/x", "POSTGRES://h/x"):
        assert open_store(url, tmp_path / "a.db").backend == "postgres"
    for bad in ("mysql://u@h/x", "sqlite:///x.db", "localhost:5432", "postgres://h:port/x"):
        with pytest.raises(ConfigError, match="DATABASE_URL"):
            open_store(bad, tmp_path / "a.db")


async def test_unreachable_postgres_is_a_store_error(tmp_path: Path) -> None:
    store = open_store(f"postgresql://u:secret@127.0.0.1:{free_port()}/x", tmp_path / "a.db")
    try:
        with pytest.raises(StoreError, match="PostgreSQL ping failed") as info:
            await store.ping()
        assert "secret" not in str(info.value)
    finally:
        await store.close()


async def test_unwritable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = open_store(None, tmp_path / "file" / "store.db")
    try:
        with pytest.raises(StoreError, match="SQLite"):
            await store.migrate()
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
        (date(2026, 1, 15), 1, date(2026, 2, 15)),
        (date(2026, 1, 31), 3, date(2026, 4, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 5, 31), 0, date(2026, 5, 31)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_due_date_and_overdue() -> None:
    assert due_date(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == date(2026, 2, 28)
    assert due_date(datetime(2028, 1, 31, 12, tzinfo=UTC)) == date(2028, 2, 29)
    assert due_date(datetime(2026, 12, 31, 8, tzinfo=UTC), months=3) == date(2027, 3, 31)
    copenhagen_summer = timezone(timedelta(hours=2))  # 1 March 00:30 there is 28 Feb in UTC
    assert due_date(datetime(2026, 3, 1, 0, 30, tzinfo=copenhagen_summer)) == date(2026, 3, 28)
    with pytest.raises(ValueError):
        due_date(datetime(2026, 1, 31))
    assert not is_overdue(date(2026, 2, 28), date(2026, 2, 28))
    assert is_overdue(date(2026, 2, 28), date(2026, 3, 1))


async def test_purge_keeps_the_text_of_open_tickets(store: Store) -> None:
    ticket, _ = await store.create_ticket(new_ticket("<open@x>"))
    later = ticket.created_at + timedelta(days=400)
    counts = await store.purge(later)
    assert counts["tickets"] == 0
    kept = await store.get_ticket(ticket.id)
    assert kept is not None and kept.original_text == ticket.original_text
