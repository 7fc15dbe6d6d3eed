"""The email door through crashes: a cancel at any step never loses or doubles a reply."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from bot.mail.door import LEASE_SECONDS
from bot.mailer import Mailer
from bot.store import Store
from tests.dovecot import append, flags
from tests.emailrig import (
    TEAM,
    Crash,
    CrashAfterSend,
    CrashBeforeSend,
    Rig,
)
from tests.mailfactory import raw_mail

QUESTION = "Hello,\n\nHow long do you keep my invoices?\n\nAlice\n"
ERASE = "Hello,\n\nPlease delete my account and all my personal data.\n\nAlice\n"
# The store calls of one message, in order: a reply, and a formal request (a ticket).
REPLY_STEPS = ("claim_inbound", "count_auto_replies", "record_auto_reply", "finish_inbound",
               "claim_mail", "mark_mail_sent")  # fmt: skip
TICKET_STEPS = ("claim_inbound", "count_auto_replies", "record_auto_reply", "create_ticket",
                "list_mail", "claim_mail", "mark_mail_sent", "finish_inbound")  # fmt: skip
MODES = ("before", "during", "after")


def mail(n: int, body: str = QUESTION) -> bytes:
    return raw_mail(body, headers={"Message-ID": f"<m{n}@example.com>",
                                   "From": f"User {n} <user{n}@example.com>"})  # fmt: skip


def cancel_at(store: Store, step: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel the task that makes the first `store.<step>()` call: before it, while it waits
    inside it (mid-transaction), or right after it returned."""
    real = getattr(store, step)

    async def cancelled(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(store, step, real)  # only the first call
        task = asyncio.current_task()
        assert task is not None
        if mode == "during":
            asyncio.get_running_loop().call_soon(task.cancel)
            return await real(*args, **kwargs)
        if mode == "after":
            await real(*args, **kwargs)
        task.cancel()
        await asyncio.sleep(0)  # raises CancelledError here
        raise AssertionError("not cancelled")

    monkeypatch.setattr(store, step, cancelled)


async def crash_and_restart(
    rig: Rig, raw: bytes, step: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Poll with a worker cancelled at `step`, then poll and flush with a restarted one."""
    await append(rig.dovecot, rig.user, raw)
    dying = rig.worker("dying")
    cancel_at(dying.store, step, mode, monkeypatch)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(dying.poller.poll_once())
    await dying.poller.close()  # the process is gone, and its connections with it
    await dying.store.close()
    rig.clock.advance(max(LEASE_SECONDS, dying.mailer.lease_seconds) + 1)
    restarted = rig.worker("restarted")
    assert await restarted.poller.poll_once() == 1
    await restarted.mailer.flush()  # the worker's outbox flusher
    assert await restarted.store.list_mail() == []  # nothing is left waiting
    assert await flags(rig.dovecot, rig.user) == [{"$PrivacyBot"}]


def check_sent(rig: Rig, purposes: tuple[str, ...], step: str, mode: str) -> None:
    """Each purpose went out once; a crash after the relay took a message but before it was
    marked sent is SMTP's one unavoidable repeat: the same message, same Message-ID, again."""
    ids = {p: Counter(str(m.message["Message-ID"]) for m in rig.smtp.recorder.by_purpose(p))
           for p in purposes}  # fmt: skip
    assert all(len(found) == 1 for found in ids.values()), ids
    deliveries = sum(sum(found.values()) for found in ids.values())
    repeated = step == "mark_mail_sent" and mode != "after"
    assert deliveries == len(purposes) + repeated, ids


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", REPLY_STEPS)
async def test_a_cancel_at_any_step_answers_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, step: str, mode: str
) -> None:
    await crash_and_restart(rig, mail(1), step, mode, monkeypatch)
    check_sent(rig, ("reply",), step, mode)
    assert rig.replies()[0] == "<m1@example.com>"
    outcome = await rig.outcome("m1@example.com")
    assert outcome is not None and outcome.action == "reply"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", TICKET_STEPS)
async def test_a_cancel_at_any_step_opens_one_ticket(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, step: str, mode: str
) -> None:
    await crash_and_restart(rig, mail(1, ERASE), step, mode, monkeypatch)
    check_sent(rig, ("ticket", "ack"), step, mode)
    tickets = await rig.workers[-1].store.list_tickets()
    assert [t.kind for t in tickets] == ["erasure"]
    outcome = await rig.outcome("m1@example.com")
    assert outcome is not None and (outcome.action, outcome.ticket_id) == ("ticket", tickets[0].id)


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
    assert [m.rcpt_tos for m in rig.smtp.recorder.by_purpose("ticket")] == [(TEAM,)]
    assert len(await rig.workers[0].store.list_tickets()) == 1
