"""The email door end to end: Dovecot, aiosmtpd and a real store; exactly once through crashes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

import pytest

from bot.answer import Answer
from bot.brain import Message
from bot.errors import StoreError
from bot.mail.door import LEASE_SECONDS
from bot.mailer import Mailer
from tests.dovecot import append, flags
from tests.emailrig import (  # noqa: F401
    TEAM,
    Rig,
    database_url_fixture,
    dovecot_fixture,
    rig_factory_fixture,
    rig_fixture,
)
from tests.mailfactory import raw_mail
from tests.pg import postgres_database_url, postgres_url  # noqa: F401
from tests.smtp import smtp_server_fixture  # noqa: F401

QUESTION = "Hello,\n\nHow long do you keep my invoices?\n\nAlice\n"
ERASE = "Hello,\n\nPlease delete my account and all my personal data.\n\nAlice\n"


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the door catches it."""


class CrashAfterSend(Mailer):
    """A mailer whose process dies right after the relay accepted the queued mail."""

    async def flush(self, limit: int = 100, *, ids: Collection[int] | None = None) -> int:
        await super().flush(limit, ids=ids)
        raise Crash


class CrashBeforeSend(Mailer):
    """A mailer whose process dies just before talking to the relay (the mail is queued)."""

    async def flush(self, limit: int = 100, *, ids: Collection[int] | None = None) -> int:
        raise Crash


def mail(n: int, body: str = QUESTION, **headers: str) -> bytes:
    """Message n, from its own sender (the per-sender cap is tested on its own)."""
    fields = {"Message-ID": f"<m{n}@example.com>", "From": f"User {n} <user{n}@example.com>"}
    return raw_mail(body, headers={**fields, **headers})


async def test_new_mail_is_answered_once_flagged_and_left_unread(rig: Rig) -> None:
    await append(rig.dovecot, rig.user, mail(1))
    poller = rig.workers[0].poller
    assert await poller.poll_once() == 1
    assert rig.replies() == ["<m1@example.com>"]
    reply = rig.smtp.recorder.by_purpose("reply")[0]
    assert reply.rcpt_tos == ("user1@example.com",)
    assert reply.message["Auto-Submitted"] == "auto-replied"
    assert str(reply.message["Message-ID"]).endswith("@bot.test>")
    assert await flags(rig.dovecot, rig.user) == [{"$PrivacyBot"}]  # not \Seen
    assert await poller.poll_once() == 0
    assert len(rig.replies()) == 1
    outcome = await rig.outcome("m1@example.com")
    assert outcome is not None and outcome.action == "reply"


async def test_formal_request_opens_one_ticket_and_acknowledges(rig: Rig) -> None:
    await append(rig.dovecot, rig.user, mail(1, ERASE))
    assert await rig.workers[0].poller.poll_once() == 1
    (ack,) = rig.smtp.recorder.by_purpose("ack")
    (note,) = rig.smtp.recorder.by_purpose("ticket")
    assert ack.rcpt_tos == ("user1@example.com",) and note.rcpt_tos == (TEAM,)
    assert not rig.replies()
    outcome = await rig.outcome("m1@example.com")
    assert outcome is not None and outcome.action == "ticket" and outcome.ticket_id
    ticket = await rig.workers[0].store.get_ticket(outcome.ticket_id)
    assert (
        ticket is not None and ticket.kind == "erasure" and ticket.requester == "user1@example.com"
    )


async def test_handle_twice_acts_once(rig: Rig) -> None:
    door = rig.workers[0].door
    first = await door.handle(mail(1), worker="a")
    again = await door.handle(mail(1), worker="b")
    assert (first.action, first.replayed) == ("reply", False)
    assert (again.action, again.replayed, again.final) == ("reply", True, True)
    assert len(rig.replies()) == 1


async def test_crash_between_send_and_flag(rig: Rig) -> None:
    """The reply went out and the outcome was recorded, but the flag never got set."""
    await append(rig.dovecot, rig.user, mail(1))
    crashing = rig.worker("crashing", mailer=CrashAfterSend)
    with pytest.raises(Crash):
        await crashing.poller.poll_once()
    await crashing.poller.close()
    assert len(rig.replies()) == 1 and await flags(rig.dovecot, rig.user) == [set()]
    rig.clock.advance(LEASE_SECONDS + 1)
    restarted = rig.worker("restarted")
    assert await restarted.poller.poll_once() == 1
    assert len(rig.replies()) == 1
    assert await flags(rig.dovecot, rig.user) == [{"$PrivacyBot"}]


async def test_crash_before_delivery_is_sent_once_by_the_outbox(rig: Rig) -> None:
    """Recorded and queued, then the process died: the outbox flusher sends it, once."""
    crashing = rig.worker("crashing", mailer=CrashBeforeSend)
    with pytest.raises(Crash):
        await crashing.door.handle(mail(1), worker="crashing")
    assert rig.replies() == []
    restarted = rig.worker("restarted")
    again = await restarted.door.handle(mail(1), worker="restarted")
    assert (again.action, again.replayed) == ("reply", True)
    assert await restarted.mailer.flush() == 1
    assert await restarted.mailer.flush() == 0
    assert rig.replies() == ["<m1@example.com>"]


async def test_relay_down_reply_waits_in_the_outbox(rig: Rig) -> None:
    rig.smtp.stop()
    done = await rig.workers[0].door.handle(mail(1), worker="w1")
    assert (done.action, done.final) == ("reply", True)
    rig.smtp.start()  # the same port again
    rig.clock.advance(61)  # the first retry is due after a minute
    assert await rig.workers[0].mailer.flush() == 1
    assert rig.replies() == ["<m1@example.com>"]


async def test_crash_in_the_commit_window_is_recorded_not_repeated(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Died between the commit and the outbox (two local writes apart): other workers wait
    for the lease, then record it for a person rather than risk a second answer."""
    crashing = rig.worker("crashing")

    async def dies(**_: object) -> int:
        raise Crash

    monkeypatch.setattr(crashing.store, "enqueue_mail", dies)
    with pytest.raises(Crash):
        await crashing.door.handle(mail(1), worker="crashing")
    other = rig.worker("other")
    busy = await other.door.handle(mail(1), worker="other")
    assert (busy.action, busy.final) == ("busy", False)
    rig.clock.advance(LEASE_SECONDS + 1)
    done = await other.door.handle(mail(1), worker="other")
    assert (done.action, done.final) == ("reply", True) and "answer by hand" in done.reason
    assert await other.mailer.flush() == 0
    assert rig.replies() == []


async def test_cancelled_before_the_commit_is_answered_after_restart(rig: Rig) -> None:
    """Killed while claiming (before anything was committed): the restart answers it once."""
    dying = rig.worker("dying")
    task = asyncio.create_task(dying.door.handle(mail(1), worker="dying"))
    await asyncio.sleep(0)  # the task is inside claim_inbound
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await dying.store.close()  # the process is gone, and with it its database connection
    rig.clock.advance(LEASE_SECONDS + 1)
    done = await rig.worker("restarted").door.handle(mail(1), worker="restarted")
    assert done.action == "reply"
    assert len(rig.replies()) == 1


@pytest.mark.parametrize("crash", [CrashAfterSend, CrashBeforeSend])
async def test_crash_around_a_ticket_sends_one_ack(rig: Rig, crash: type[Mailer]) -> None:
    crashing = rig.worker("crashing", mailer=crash)
    with pytest.raises(Crash):
        await crashing.door.handle(mail(1, ERASE), worker="crashing")
    rig.clock.advance(LEASE_SECONDS + 1)
    done = await rig.worker("restarted").door.handle(mail(1, ERASE), worker="restarted")
    assert done.action == "ticket" and "existed already" in done.reason
    assert len(rig.smtp.recorder.by_purpose("ack")) == 1
    assert len(rig.smtp.recorder.by_purpose("ticket")) == 1
    assert len(await rig.workers[0].store.list_tickets()) == 1


async def test_two_pollers_on_one_mailbox_do_not_double_answer(rig: Rig) -> None:
    await append(rig.dovecot, rig.user, *(mail(n) for n in range(12)))
    one, two = rig.workers[0], rig.worker("w2")
    counts = await asyncio.gather(one.poller.poll_once(), two.poller.poll_once())
    assert sum(counts) >= 12
    for _ in range(3):  # whatever one saw as busy, it marks once the other finished
        await asyncio.gather(one.poller.poll_once(), two.poller.poll_once())
    assert sorted(rig.replies()) == sorted(f"<m{n}@example.com>" for n in range(12))
    assert await flags(rig.dovecot, rig.user) == [{"$PrivacyBot"}] * 12


IGNORED = {
    "auto-submitted": {"Auto-Submitted": "auto-replied"},
    "x-autoreply": {"X-Autoreply": "yes"},
    "x-autorespond": {"X-Autorespond": "yes"},
    "x-auto-response-suppress": {"X-Auto-Response-Suppress": "All"},
    "x-autogenerated": {"X-Autogenerated": "Reply"},
    "precedence-bulk": {"Precedence": "bulk"},
    "precedence-junk": {"Precedence": "junk"},
    "precedence-list": {"Precedence": "list"},
    "list-id": {"List-Id": "<news.example.org>"},
    "list-unsubscribe": {"List-Unsubscribe": "<mailto:u@example.org>"},
    "null-return-path": {"Return-Path": "<>"},
    "mailer-daemon": {"From": "MAILER-DAEMON@mx.example.org"},
    "postmaster": {"From": "postmaster@example.org"},
    "noreply": {"From": "noreply@example.org"},
    "no-reply": {"From": "no-reply@example.org"},
    "report": {"Content-Type": 'multipart/report; report-type=delivery-status; boundary="b"'},
    "own-header": {"X-Privacy-Bot": "reply"},
    "own-address": {"From": "privacy@ciemtech.com"},
    "own-message-id": {"Message-ID": "<x1@bot.test>"},
    "out-of-office": {"Subject": "Out of office: back Monday"},
    "automatic-reply": {"Subject": "Automatic reply: your question"},
    "autosvar": {"Subject": "Autosvar: Jeg er på ferie"},
    "fravaerende": {"Subject": "=?utf-8?q?Frav=C3=A6rende?= indtil mandag"},
}


async def test_every_ignore_rule_end_to_end(rig: Rig) -> None:
    raws = []
    for n, headers in enumerate(IGNORED.values()):
        raws.append(raw_mail(ERASE, headers={"Message-ID": f"<i{n}@example.com>", **headers}))
    await append(rig.dovecot, rig.user, *raws)
    assert await rig.workers[0].poller.poll_once() == len(IGNORED)
    assert rig.smtp.messages == []
    for n, name in enumerate(IGNORED):
        key = "x1@bot.test" if name == "own-message-id" else f"i{n}@example.com"
        outcome = await rig.outcome(key)
        assert outcome is not None and outcome.action == "ignore", name
    assert await flags(rig.dovecot, rig.user) == [{"$PrivacyBot"}] * len(IGNORED)


async def test_per_sender_cap(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(AUTO_REPLY_LIMIT_PER_DAY="2")
    await rig.worker().store.migrate()
    same = {"From": "alice@example.com"}
    await append(rig.dovecot, rig.user, *(mail(n, **same) for n in range(4)))
    assert await rig.workers[0].poller.poll_once() == 4
    assert len(rig.replies()) == 2
    capped = await rig.outcome("m3@example.com")
    assert capped is not None and capped.action == "ignore" and "rate limited" in capped.reason
    rig.clock.advance(24 * 3600 + 1)
    assert (await rig.workers[0].door.handle(mail(9, **same), worker="w1")).action == "reply"


async def test_a_failing_message_is_recorded_as_error_and_the_rest_go_on(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rig.brain.answer

    def answer(message: Message) -> Answer:
        if "BOOM" in message.text:
            raise RuntimeError("core failure")
        return real(message)

    monkeypatch.setattr(rig.brain, "answer", answer)
    await append(rig.dovecot, rig.user, mail(1, "Do you keep BOOM data?"), mail(2))
    assert await rig.workers[0].poller.poll_once() == 2
    failed = await rig.outcome("m1@example.com")
    assert failed is not None and failed.action == "error" and "RuntimeError" in failed.reason
    assert rig.replies() == ["<m2@example.com>"]
    assert await flags(rig.dovecot, rig.user) == [{"$PrivacyBot"}] * 2


async def test_a_store_failure_leaves_the_message_for_a_retry(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*_: object, **__: object) -> bool:
        raise StoreError("database is down")

    await append(rig.dovecot, rig.user, mail(1))
    monkeypatch.setattr(rig.workers[0].store, "claim_inbound", down)
    assert await rig.workers[0].poller.poll_once() == 0
    assert await flags(rig.dovecot, rig.user) == [set()]
    monkeypatch.undo()
    assert await rig.workers[0].poller.poll_once() == 1
    assert rig.replies() == ["<m1@example.com>"]
