"""The outbox half of both stores: mail queued with its ticket, claims, dead mail, retries."""

import asyncio
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import pytest

from bot.errors import NotFound, StoreError
from bot.store import Outgoing, Store, Ticket, schema
from bot.store.sqlbase import SqlBase
from tests.stores import T0, due_mail, new_ticket


def two_mails(ticket: Ticket) -> list[Outgoing]:
    """A team notification and an acknowledgement naming the new ticket's id."""
    return [
        Outgoing(f"Subject: [{ticket.id}] new\r\n\r\nx".encode(), ("team@x.dk",), "ticket", T0),
        Outgoing(f"Subject: ack {ticket.id}\r\n\r\ny".encode(), (ticket.requester,), "ack", T0),
    ]


async def queue(store: Store, n: int, *, due: timedelta = timedelta(0)) -> list[int]:
    """`n` plain messages due at T0 + due."""
    return [
        await store.enqueue_mail(
            message=f"Subject: {i}\r\n\r\nbody".encode(),
            recipients=("a@x.dk",),
            purpose="test",
            next_attempt_at=T0 + due,
        )
        for i in range(n)
    ]


async def test_a_ticket_and_its_mail_are_stored_together(store: Store) -> None:
    calls: list[str] = []

    def mails(ticket: Ticket) -> Sequence[Outgoing]:
        calls.append(ticket.id)
        assert ticket.status == "awaiting_identity" and ticket.history[0].note == "check it"
        return two_mails(ticket)

    ticket, created = await store.create_ticket(
        new_ticket(), status="awaiting_identity", note="check it", outbox=mails
    )
    assert created and calls == [ticket.id] and ticket.status == "awaiting_identity"
    entry = ticket.history[0]
    assert (entry.action, entry.from_status, entry.to_status) == ("created", None, ticket.status)
    queued = await store.list_mail(ticket_id=ticket.id)
    assert [(m.purpose, m.ticket_id, m.state) for m in queued] == [
        ("ticket", ticket.id, "queued"),
        ("ack", ticket.id, "queued"),
    ]
    assert queued[0].message.startswith(f"Subject: [{ticket.id}]".encode())
    assert queued[1].recipients == ("kunde@example.dk",)
    assert all(m.next_attempt_at == T0 and m.attempts == 0 for m in queued)
    assert [m.id for m in await due_mail(store, T0)] == [m.id for m in queued]

    again, created_again = await store.create_ticket(new_ticket(), outbox=mails)
    assert not created_again and again == ticket and calls == [ticket.id]
    assert len(await store.list_mail()) == 2
    with pytest.raises(ValueError, match="starts open"):
        await store.create_ticket(new_ticket("<other@x>"), status="done")


async def test_a_failing_mail_factory_stores_neither_ticket_nor_mail(store: Store) -> None:
    def broken(ticket: Ticket) -> list[Outgoing]:
        raise RuntimeError("template error")

    with pytest.raises(RuntimeError, match="template error"):
        await store.create_ticket(new_ticket(), outbox=broken)
    assert await store.list_tickets() == [] and await store.list_mail(include_sent=True) == []

    def nobody(ticket: Ticket) -> list[Outgoing]:
        return [Outgoing(b"x", (), "ack", T0)]

    with pytest.raises(ValueError, match="recipient"):
        await store.create_ticket(new_ticket(), outbox=nobody)
    assert await store.list_tickets() == []
    ticket, created = await store.create_ticket(new_ticket(), outbox=two_mails)
    assert created and len(await store.list_mail(ticket_id=ticket.id)) == 2


async def test_concurrent_creates_queue_one_set_of_mail(stores: Callable[[], Store]) -> None:
    a, b, c = stores(), stores(), stores()
    await a.migrate()
    for round_ in range(4):
        t = new_ticket(f"<race-{round_}@example.com>")
        results = await asyncio.gather(*(s.create_ticket(t, outbox=two_mails) for s in (a, b, c)))
        assert sorted(created for _, created in results) == [False, False, True]
    mail = await a.list_mail()
    assert len(mail) == 8 and len({m.ticket_id for m in mail}) == 4


async def test_a_claim_holds_mail_until_its_lease_runs_out(store: Store) -> None:
    first, second = await queue(store, 2)
    [later] = await queue(store, 1, due=timedelta(hours=1))
    claimed = await store.claim_mail(T0, 10, 60, "w1")
    assert [m.id for m in claimed] == [first, second]
    assert all(m.claimed_by == "w1" and m.claimed_at == T0 for m in claimed)
    assert all(m.next_attempt_at == T0 + timedelta(seconds=60) for m in claimed)
    assert await store.claim_mail(T0 + timedelta(seconds=59), 10, 60, "w2") == []
    assert await due_mail(store, T0 + timedelta(seconds=59)) == []
    # w1 died: once its lease has run out, w2 takes the messages over
    retaken = await store.claim_mail(T0 + timedelta(seconds=60), 1, 60, "w2")
    assert [(m.id, m.claimed_by) for m in retaken] == [(first, "w2")]
    at = T0 + timedelta(hours=2)
    assert [m.id for m in await store.claim_mail(at, 10, 60, "w3", ids=[later])] == [later]
    assert await store.claim_mail(at, 10, 60, "w3", ids=[]) == []
    assert await store.claim_mail(at, 0, 60, "w3") == []
    with pytest.raises(ValueError, match="lease"):
        await store.claim_mail(at, 10, 0, "w3")


async def test_two_connections_claiming_at_once_split_the_mail(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    await a.migrate()
    ids = await queue(a, 30)

    async def drain(s: Store, worker: str) -> list[int]:
        got: list[int] = []
        while batch := await s.claim_mail(T0, 3, 300, worker):
            got += [m.id for m in batch]
            await asyncio.sleep(0)
        return got

    mine, theirs = await asyncio.gather(drain(a, "wa"), drain(b, "wb"))
    assert sorted(mine + theirs) == ids and not set(mine) & set(theirs)


async def test_failing_or_releasing_ends_a_claim(store: Store) -> None:
    first, second = await queue(store, 2)
    await store.claim_mail(T0, 10, 600, "w1")
    await store.mark_mail_failed(first, "451 later", T0 + timedelta(minutes=1))
    await store.release_mail([second], T0)
    await store.release_mail([], T0)
    [again] = await store.claim_mail(T0, 10, 600, "w2")
    assert again.id == second and again.attempts == 0 and again.claimed_by == "w2"
    [failed] = [m for m in await store.list_mail() if m.id == first]
    assert (failed.attempts, failed.last_error, failed.claimed_by) == (1, "451 later", None)
    await store.mark_mail_sent(second, T0)
    await store.release_mail([second], T0)  # a sent message stays sent
    assert [m.id for m in await store.list_mail()] == [first]
    [sent] = [m for m in await store.list_mail(include_sent=True) if m.id == second]
    assert sent.state == "sent" and sent.claimed_by == "w2"


async def test_dead_mail_is_kept_listed_and_can_be_queued_again(store: Store) -> None:
    dead, sent = await queue(store, 2)
    await store.mark_mail_failed(dead, "connection refused", T0)
    await store.mark_mail_dead(dead, "554 no such user", T0 + timedelta(days=3))
    await store.mark_mail_sent(sent, T0)
    assert await due_mail(store, T0 + timedelta(days=30)) == []
    assert await store.claim_mail(T0 + timedelta(days=30), 10, 60, "w") == []
    [item] = await store.list_mail()
    assert (item.id, item.state, item.attempts) == (dead, "dead", 2)
    assert item.last_error == "554 no such user" and item.dead_at == T0 + timedelta(days=3)
    assert (await store.purge(T0 + timedelta(days=3)))["outbox"] == 1  # only the sent one
    assert [m.id for m in await store.list_mail(include_sent=True)] == [dead]

    now = T0 + timedelta(days=4)
    again = await store.retry_mail(dead, now)
    assert (again.state, again.attempts, again.next_attempt_at) == ("queued", 0, now)
    assert again.last_error == "554 no such user"
    assert [m.id for m in await store.claim_mail(now, 10, 60, "w")] == [dead]
    with pytest.raises(StoreError, match="being sent by w"):
        await store.retry_mail(dead, now)
    await store.mark_mail_sent(dead, now)
    with pytest.raises(StoreError, match="already sent"):
        await store.retry_mail(dead, now)
    with pytest.raises(NotFound):
        await store.retry_mail(999_999, now)
    with pytest.raises(NotFound):
        await store.mark_mail_dead(999_999, "x", now)


async def test_verify_identity_opens_a_ticket_awaiting_identity(store: Store) -> None:
    t, _ = await store.create_ticket(new_ticket(), status="awaiting_identity")
    v = await store.verify_identity(t.id, actor="anna", note="replied from the address")
    assert v.identity_verified and v.status == "open" and v.is_open
    last = v.history[-1]
    assert (last.actor, last.action, last.from_status, last.to_status, last.note) == (
        "anna", "identity_verified", "awaiting_identity", "open", "replied from the address",
    )  # fmt: skip
    other, _ = await store.create_ticket(new_ticket("<m2@x>"), status="awaiting_identity")
    await store.extend_ticket(other.id, date(2026, 4, 28), actor="anna", reason="complex")
    kept = await store.verify_identity(other.id, actor="bo", note="passport seen")
    assert kept.status == "extended" and kept.identity_verified
    with pytest.raises(NotFound):
        await store.verify_identity("PRIV-2026-999999", actor="anna", note="x")


async def test_an_extension_and_its_notice_are_stored_together(store: Store) -> None:
    t, _ = await store.create_ticket(new_ticket())

    def notice(ticket: Ticket) -> list[Outgoing]:
        assert ticket.extended_due_date == date(2026, 4, 28)
        body = f"Subject: {ticket.id} due {ticket.extended_due_date}\r\n\r\nx".encode()
        return [Outgoing(body, (ticket.requester,), "extension", T0)]

    await store.extend_ticket(t.id, date(2026, 4, 28), actor="anna", reason="x", outbox=notice)
    [mail] = await store.list_mail(ticket_id=t.id)
    assert mail.purpose == "extension" and b"due 2026-04-28" in mail.message
    with pytest.raises(ValueError, match="already extended"):
        await store.extend_ticket(t.id, date(2026, 5, 28), actor="bo", reason="y", outbox=notice)
    assert len(await store.list_mail()) == 1


async def test_an_old_schema_is_upgraded_with_its_queued_mail(
    stores: Callable[[], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = stores()
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        m.setattr(schema, "LATEST_VERSION", 1)
        assert await old.migrate() == 1
        assert isinstance(old, SqlBase)
        async with old.session("queue as version 1 did", write=True) as conn:
            mail_id = await conn.insert(
                "INSERT INTO outbox (message, recipients, purpose, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (b"Subject: old\r\n\r\nx", old.strs(("a@x.dk",)), "ack", old.ts(T0), old.ts(T0)),
                "id",
            )
    assert await stores().migrate() == schema.LATEST_VERSION == 2
    [item] = await due_mail(old, T0)
    assert (item.id, item.state, item.ticket_id, item.claimed_by) == (mail_id, "queued", None, None)
    assert [m.id for m in await old.claim_mail(T0, 5, 60, "w")] == [mail_id]


async def test_purge_blanks_a_dead_message_and_keeps_its_record(store: Store) -> None:
    (dead,) = await queue(store, 1)
    await store.mark_mail_dead(dead, "554 no such user", T0)
    assert (await store.purge(T0))["dead_mail"] == 0  # dead at the cut: kept whole
    assert (await store.purge(T0 + timedelta(days=1)))["dead_mail"] == 1
    [item] = await store.list_mail()
    assert (item.id, item.message, item.state, item.last_error) == (
        dead, b"", "dead", "554 no such user"
    )  # fmt: skip
    assert item.purpose and item.recipients
    assert (await store.purge(T0 + timedelta(days=1)))["dead_mail"] == 0
    with pytest.raises(StoreError, match="purged after the retention period"):
        await store.retry_mail(dead, T0 + timedelta(days=2))
