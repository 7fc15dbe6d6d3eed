"""The ticket service on both stores, with its mail received by a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Collection
from datetime import UTC, date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from bot.brain import Brain
from bot.config import Settings
from bot.errors import NotFound
from bot.mailer import Mailer
from bot.store import Store, open_store
from bot.tickets import TicketError, TicketService
from tests.smtp import Received, SmtpServer
from tests.stores import due_mail

T0 = datetime(2026, 11, 25, 8, 15, tzinfo=UTC)
TEAM = "privacy-team@ciemtech.com"
ERASE = "Please delete all my data."


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_database_url")
        return url
    return None


@pytest.fixture
def settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return Settings.from_env({
        "DATA_DIR": str(tmp_path / "data"), "SMTP_URL": smtp_server.url,
        "PRIVACY_TEAM_ADDRESS": TEAM, "MESSAGE_ID_DOMAIN": "bot.test",
    })  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def services(
    database_url: str | None, tmp_path: Path, settings: Settings, brain: Brain, clock: Clock
) -> AsyncIterator[Callable[[], TicketService]]:
    """Makes services, each on its own store connection to the test's database."""
    opened: list[Store] = []

    def make() -> TicketService:
        store = open_store(database_url, tmp_path / "store.db")
        opened.append(store)
        mailer = Mailer(settings, store, clock=clock)
        return TicketService(store, mailer, brain, settings, clock=clock)

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def service(services: Callable[[], TicketService]) -> TicketService:
    made = services()
    await made.store.migrate()
    return made


async def open_email(service: TicketService, text: str = ERASE, **changes: object) -> tuple:  # type: ignore[type-arg]
    args: dict[str, object] = {
        "kind": "erasure", "requester": "kunde@example.dk", "requester_name": "Kunde Æbleø",
        "text": text, "channel": "email", "subject": "Delete my data",
        "source_message_id": "<m1@mail.example.dk>", "in_reply_to": "<m1@mail.example.dk>",
    }  # fmt: skip
    args.update(changes)
    return await service.open_ticket(**args)  # type: ignore[arg-type]


def only(server: SmtpServer, purpose: str) -> Received:
    [one] = server.recorder.by_purpose(purpose)
    return one


def only_one(server: SmtpServer, purpose: str, ticket_id: str) -> Received:
    [one] = [r for r in server.recorder.by_purpose(purpose) if ticket_id in r.message["Subject"]]
    return one


async def test_an_email_request_is_ticketed_and_mailed_to_team_and_requester(
    service: TicketService, smtp_server: SmtpServer, brain: Brain
) -> None:
    ticket, created = await open_email(service)
    assert created and re.fullmatch(r"PRIV-2026-\d{6}", ticket.id)
    assert ticket.status == "awaiting_identity" and not ticket.identity_verified
    assert ticket.due_date == date(2026, 12, 25) and ticket.received_at == T0
    assert ticket.sections[0] == "5.3" and "privacy@ciemtech.com" in ticket.routes
    assert ticket.policy_hash == brain.knowledge.policy.sha256 and ticket.lang == "en"
    [created_entry] = ticket.history
    assert (created_entry.action, created_entry.from_status, created_entry.to_status) == (
        "created", None, "awaiting_identity",
    )  # fmt: skip
    assert created_entry.note == "received via email; the sender's address must be confirmed"

    team = only(smtp_server, "ticket")
    assert team.rcpt_tos == (TEAM,) and team.mail_from == "privacy@ciemtech.com"
    m = team.message
    assert m["Subject"] == f"[{ticket.id}] Erasure request - due 2026-12-25"
    assert m["Auto-Submitted"] == "auto-generated" and m["X-Privacy-Bot"] == "ticket"
    assert (
        m["Message-ID"].endswith("@bot.test>") and m["Reply-To"] == "Kunde Æbleø <kunde@example.dk>"
    )
    body = m.get_content()
    assert "[5.3] Access, correction and deletion on request" in body and f"> {ERASE}" in body

    ack = only(smtp_server, "ack")
    assert ack.rcpt_tos == ("kunde@example.dk",)
    a = ack.message
    assert a["Subject"] == f"Re: Delete my data [{ticket.id}]"
    assert a["Auto-Submitted"] == "auto-replied" and a["Message-ID"].endswith("@bot.test>")
    assert a["In-Reply-To"] == a["References"] == "<m1@mail.example.dk>"
    assert "25 December 2026" in a.get_content()
    assert a["Message-ID"] != m["Message-ID"]


async def test_the_same_source_twice_gives_one_ticket_and_mails_once(
    service: TicketService, smtp_server: SmtpServer
) -> None:
    first, created = await open_email(service)
    again, created_again = await open_email(service, text="Please delete all my data!!")
    assert created and not created_again and again.id == first.id
    assert len(await service.list()) == 1
    assert len(smtp_server.messages) == 2


async def test_two_concurrent_creates_for_one_message_give_one_ticket_and_one_mail(
    services: Callable[[], TicketService], smtp_server: SmtpServer
) -> None:
    a, b = services(), services()
    await a.store.migrate()
    results = await asyncio.gather(open_email(a), open_email(b))
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].id == results[1][0].id
    assert len(await b.list()) == 1
    assert len(smtp_server.recorder.by_purpose("ticket")) == 1
    assert len(smtp_server.recorder.by_purpose("ack")) == 1


async def test_an_applicant_is_routed_to_jobs_and_the_team_is_told(
    service: TicketService, smtp_server: SmtpServer
) -> None:
    text = "I applied for a job at CiemTech last year. Please delete my application and CV."
    ticket, _ = await open_email(service, text)
    assert "jobs@ciemtech.com" in ticket.routes and ticket.sections[0] == "7"
    assert ticket.route_note == "Job applicant: section 7 says jobs@ciemtech.com handles this."
    assert (
        "- Job applicant: section 7 says jobs@ciemtech.com"
        in only(smtp_server, "ticket").message.get_content()
    )


async def test_a_visitor_of_a_customers_site_is_told_to_ask_the_site_owner(
    service: TicketService, smtp_server: SmtpServer
) -> None:
    text = (
        "I bought shoes in a webshop running on CiemTech. Please delete everything you hold on me."
    )
    ticket, _ = await open_email(service, text)
    assert "site-owner" in ticket.routes and ticket.sections[0] == "6"
    assert ticket.route_note is not None and "ask the site owner (section 6)" in ticket.route_note
    assert "CiemTech is processor" in only(smtp_server, "ticket").message.get_content()


async def test_a_slack_request_gets_no_email_ack_and_is_not_identity_verified(
    service: TicketService, smtp_server: SmtpServer
) -> None:
    # staff escalate on behalf of customers: a Slack user is not the verified data subject
    ticket, _ = await service.open_ticket(
        kind="access", requester="U0123ABC", text="Send me a copy of all the data you hold on me.",
        channel="slack", source_message_id="slack:Ev1",
    )  # fmt: skip
    assert ticket.status == "awaiting_identity" and not ticket.identity_verified
    assert not ticket.on_behalf_of_other
    assert ticket.history[0].note == (
        "received via slack; escalated from Slack by staff: confirm who the data subject is"
    )
    behalf, _ = await service.open_ticket(
        kind="access", requester="U0123ABC", channel="slack", source_message_id="slack:Ev2",
        text="I am writing on behalf of my mother. Please send her a copy of all data you hold.",
    )  # fmt: skip
    assert behalf.on_behalf_of_other and not behalf.identity_verified
    assert behalf.history[0].note is not None and "check the writer's authority" in (
        behalf.history[0].note
    )
    body = only_one(smtp_server, "ticket", ticket.id).message.get_content()
    assert "NOT verified - confirm who the data subject is before acting" in body
    assert len(smtp_server.recorder.by_purpose("ticket")) == 2
    assert smtp_server.recorder.by_purpose("ack") == []
    assert all("Reply-To" not in r.message for r in smtp_server.messages)


async def test_a_danish_request_is_acknowledged_in_danish(
    service: TicketService, smtp_server: SmtpServer
) -> None:
    ticket, _ = await open_email(
        service,
        "Slet venligst alle mine oplysninger. Jeg har fuldmagt fra min mor.",
        subject="Sletning",
    )
    assert ticket.lang == "da" and ticket.on_behalf_of_other
    ack = only(smtp_server, "ack").message
    assert ack["Subject"] == f"Sv: Sletning [{ticket.id}]"
    body = ack.get_content()
    assert "anmodning om sletning" in body and "25. december 2026" in body and "fuldmagt" in body


async def test_a_subject_with_crlf_injects_no_header(
    service: TicketService, smtp_server: SmtpServer
) -> None:
    await open_email(
        service, subject="Hi\r\nBcc: x@y", requester_name="Eve\r\nCc: spy@evil.example"
    )
    for received in smtp_server.messages:
        assert "x@y" not in received.rcpt_tos and "spy@evil.example" not in received.rcpt_tos
        assert "Bcc" not in received.message and "Cc" not in received.message
        headers = received.data.split(b"\r\n\r\n", 1)[0]
        assert not re.search(rb"^(Bcc|Cc):", headers, re.MULTILINE)
        assert b"\nCc: spy" not in received.data  # not even in a body's field list
    assert only(smtp_server, "ack").message["Subject"].startswith("Re: Hi Bcc: x@y [")


@pytest.mark.parametrize(
    ("received", "due", "extended"),
    [
        (datetime(2026, 1, 31, 9, 0, tzinfo=UTC), date(2026, 2, 28), date(2026, 4, 28)),
        (datetime(2028, 1, 31, 9, 0, tzinfo=UTC), date(2028, 2, 29), date(2028, 4, 29)),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), date(2027, 1, 31), date(2027, 3, 31)),
        (datetime(2026, 3, 31, 12, 0, tzinfo=UTC), date(2026, 4, 30), date(2026, 6, 30)),
        # 1 February 00:30 in Copenhagen is still 31 January in UTC
        (
            datetime(2026, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            date(2026, 2, 28),
            date(2026, 4, 28),
        ),
    ],
)
async def test_deadlines_at_month_ends(
    service: TicketService, clock: Clock, received: datetime, due: date, extended: date
) -> None:
    clock.now = received
    ticket, _ = await open_email(service, received_at=received)
    assert ticket.due_date == due
    longer = await service.extend(ticket.id, actor="anna", reason="Three systems to search.")
    assert longer.extended_due_date == extended == longer.effective_due_date


async def test_extend_sets_the_new_due_date_and_mails_the_requester(
    service: TicketService, smtp_server: SmtpServer, clock: Clock
) -> None:
    ticket, _ = await open_email(service)
    clock.now = T0 + timedelta(days=20)
    extended = await service.extend(
        ticket.id.lower(), actor="anna", reason="We must search three systems."
    )
    assert extended.status == "extended" and extended.extended_due_date == date(2027, 2, 25)
    last = extended.history[-1]
    assert (last.actor, last.action, last.from_status, last.to_status) == (
        "anna", "extended", "awaiting_identity", "extended",
    )  # fmt: skip
    notice = only(smtp_server, "extension")
    assert notice.rcpt_tos == ("kunde@example.dk",)
    body = notice.message.get_content()
    assert "25 February 2027" in body and "We must search three systems." in body
    with pytest.raises(TicketError, match="already extended"):
        await service.extend(ticket.id, actor="anna", reason="again")


async def test_extending_late_or_closed_tickets_is_refused(
    service: TicketService, clock: Clock
) -> None:
    late, _ = await open_email(service)
    clock.now = T0 + timedelta(days=31)  # 26 December: the first month is over
    with pytest.raises(TicketError, match="within the first month"):
        await service.extend(late.id, actor="anna", reason="too late")
    closed, _ = await open_email(service, source_message_id="<m2@mail.example.dk>")
    await service.close(closed.id, actor="anna", note="deleted")
    with pytest.raises(TicketError, match="closed"):
        await service.extend(closed.id, actor="anna", reason="x")
    with pytest.raises(TicketError, match="needs a reason"):
        await service.extend(late.id, actor="anna", reason="  ")


async def test_close_list_and_overdue(service: TicketService, clock: Clock) -> None:
    first, _ = await open_email(service)
    second, _ = await open_email(service, source_message_id="<m2@mail.example.dk>")
    done = await service.close(first.id, actor="anna", note="Data deleted in all systems.")
    assert done.status == "done" and done.closed_at is not None
    assert (done.history[-1].actor, done.history[-1].note) == (
        "anna",
        "Data deleted in all systems.",
    )
    with pytest.raises(TicketError, match="already closed"):
        await service.close(first.id, actor="anna", note="again")
    with pytest.raises(TicketError, match="done or rejected"):
        await service.close(second.id, actor="anna", note="x", status="open")
    assert [t.id for t in await service.list()] == [first.id, second.id]
    assert [t.id for t in await service.list(open_only=True)] == [second.id]
    assert await service.list(overdue=True) == []
    clock.now = datetime(2026, 12, 26, tzinfo=UTC)
    assert [t.id for t in await service.list(overdue=True)] == [second.id]
    rejected = await service.close(second.id, actor="bo", note="Not our data.", status="rejected")
    assert rejected.status == "rejected" and await service.list(overdue=True) == []


async def test_unknown_tickets_and_kinds(service: TicketService) -> None:
    with pytest.raises(NotFound, match="no ticket PRIV-2026-999999"):
        await service.get("PRIV-2026-999999")
    with pytest.raises(NotFound):
        await service.close("PRIV-2026-999999", actor="anna", note="x")
    with pytest.raises(ValueError, match="kind"):
        await open_email(service, kind="delete_everything")


async def test_mail_that_fails_while_smtp_is_down_is_delivered_once_it_is_back(
    service: TicketService, smtp_server: SmtpServer, clock: Clock
) -> None:
    smtp_server.stop()
    ticket, created = await open_email(service)
    assert created and smtp_server.messages == []
    clock.now = T0 + timedelta(minutes=1)
    assert len(await due_mail(service.store, clock())) == 2
    smtp_server.start()
    assert await service.mailer.flush() == 2
    assert await service.mailer.flush() == 0
    assert only(smtp_server, "ticket").message["Subject"].startswith(f"[{ticket.id}]")
    assert only(smtp_server, "ack").rcpt_tos == ("kunde@example.dk",)


class Crash(Exception):
    """The process dies (here: between storing a ticket and sending its mail)."""


class CrashBeforeDelivery(Mailer):
    """A mailer whose process dies before it delivers anything it was asked to."""

    async def flush(self, limit: int = 100, *, ids: Collection[int] | None = None) -> int:
        raise Crash


async def test_the_ticket_and_its_mail_are_stored_together_and_sent_at_once(
    service: TicketService, smtp_server: SmtpServer
) -> None:
    ticket, _ = await open_email(service)
    stored = await service.store.list_mail(ticket_id=ticket.id, include_sent=True)
    assert [(m.purpose, m.state, m.attempts) for m in stored] == [
        ("ticket", "sent", 0), ("ack", "sent", 0),
    ]  # fmt: skip
    for item in stored:  # what was queued, Message-ID included, is what went out
        [got] = [r for r in smtp_server.messages if r.message["X-Privacy-Bot"] == item.purpose]
        assert got.data.rstrip(b"\r\n") == item.message.rstrip(b"\r\n")
        assert got.rcpt_tos == item.recipients


async def test_a_crash_before_delivery_loses_no_mail_and_sends_it_once(
    services: Callable[[], TicketService], smtp_server: SmtpServer, settings: Settings,
    brain: Brain, clock: Clock,
) -> None:  # fmt: skip
    first = services()
    await first.store.migrate()
    crashing = TicketService(first.store, CrashBeforeDelivery(settings, first.store, clock=clock),
                             brain, settings, clock=clock)  # fmt: skip
    with pytest.raises(Crash):
        await open_email(crashing)
    assert smtp_server.messages == []
    [ticket] = await first.list()
    queued = await first.store.list_mail(ticket_id=ticket.id)
    assert [m.purpose for m in queued] == ["ticket", "ack"]
    # the door retries the message after a restart: same ticket, the queued mail goes out
    restarted = services()
    again, created = await open_email(restarted)
    assert not created and again.id == ticket.id
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [
        message_from_bytes(m.message, policy=policy.default)["Message-ID"] for m in queued
    ]
    await open_email(restarted)
    assert await restarted.mailer.flush() == 0
    assert [len(smtp_server.recorder.by_purpose(p)) for p in ("ticket", "ack")] == [1, 1]


async def test_verify_identity_opens_the_ticket(service: TicketService, clock: Clock) -> None:
    ticket, _ = await open_email(service)
    with pytest.raises(TicketError, match="needs a note"):
        await service.verify_identity(ticket.id, actor="anna", note=" ")
    verified = await service.verify_identity(
        ticket.id.lower(), actor="anna", note="The requester answered from the address."
    )
    assert verified.status == "open" and verified.identity_verified
    last = verified.history[-1]
    assert (last.actor, last.action, last.from_status, last.to_status) == (
        "anna", "identity_verified", "awaiting_identity", "open",
    )  # fmt: skip
    with pytest.raises(TicketError, match="already verified"):
        await service.verify_identity(ticket.id, actor="anna", note="again")
    other, _ = await open_email(service, source_message_id="<m2@mail.example.dk>")
    await service.extend(other.id, actor="anna", reason="Three systems.")
    assert (await service.verify_identity(other.id, actor="bo", note="ok")).status == "extended"
    closed, _ = await open_email(service, source_message_id="<m3@mail.example.dk>")
    await service.close(closed.id, actor="anna", note="Not ours.", status="rejected")
    with pytest.raises(TicketError, match="closed"):
        await service.verify_identity(closed.id, actor="anna", note="x")
    with pytest.raises(NotFound):
        await service.verify_identity("PRIV-2026-999999", actor="anna", note="x")


async def test_an_extension_notice_waits_in_the_outbox_while_smtp_is_down(
    service: TicketService, smtp_server: SmtpServer, clock: Clock
) -> None:
    ticket, _ = await open_email(service)
    smtp_server.stop()
    extended = await service.extend(ticket.id, actor="anna", reason="Three systems.")
    [notice] = await service.store.list_mail(ticket_id=ticket.id)
    assert notice.purpose == "extension" and notice.attempts == 1
    assert extended.status == "extended"
    smtp_server.start()
    clock.now += timedelta(minutes=1)
    assert await service.mailer.flush() == 1
    assert only(smtp_server, "extension").rcpt_tos == ("kunde@example.dk",)
