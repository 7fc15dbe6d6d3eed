"""Mail a person must handle: flagged `$PrivacyBotNeedsHuman` in the mailbox, kept as a gap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.mail.door import LEASE_SECONDS, is_gap
from bot.mail.imap import ImapError, ImapPoller
from bot.mail.triage import Decision
from bot.metrics import Metrics
from bot.parts import MeteredEmailDoor
from tests.dovecot import append, flags
from tests.emailrig import Crash, CrashAfterSend, Rig, with_imap
from tests.mailfactory import raw_mail

BOT, HUMAN = "$PrivacyBot", "$PrivacyBotNeedsHuman"
COVERED = "Hello,\n\nHow long do you keep my invoices?\n\nAlice\n"
NOT_COVERED = ("Hello,\n\nHow much does a pizza cost at your office canteen? My number is "
               "12 34 56 78, or mail jane.doe@example.com.\n\nJane\n")  # fmt: skip
ERASE = "Hello,\n\nPlease delete my account and all my personal data.\n\nAlice\n"


def mail(n: int, body: str, sender: str | None = None, **headers: str) -> bytes:
    fields = {"Message-ID": f"<h{n}@example.com>", "From": sender or f"user{n}@example.com"}
    return raw_mail(body, headers={**fields, **headers})


async def test_mail_left_to_people_gets_the_second_keyword(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(AUTO_REPLY_LIMIT_PER_DAY="1")
    worker = rig.worker()
    await worker.store.migrate()
    await append(rig.dovecot, rig.user,
        mail(1, COVERED, "alice@example.com"),  # answered
        mail(2, NOT_COVERED),  # "a person will answer"
        mail(3, ERASE),  # a ticket: the team works on it there
        mail(4, COVERED, **{"Auto-Submitted": "auto-replied"}),  # a machine: ignored
        mail(5, "Thank you!"),  # a note, no question: left for the team
        mail(6, "And can I see what you hold about me?", "alice@example.com"),  # rate limited
    )  # fmt: skip
    assert await worker.poller.poll_once() == 6
    found = await flags(rig.dovecot, rig.user)
    assert found == [{BOT}, {BOT, HUMAN}, {BOT}, {BOT}, {BOT, HUMAN}, {BOT, HUMAN}]
    assert len(rig.replies()) == 2  # answered, and "a person will answer"
    limited = await rig.outcome("h6@example.com")
    assert limited is not None and "rate limited" in limited.reason


async def test_a_replayed_outcome_keeps_the_second_keyword(rig: Rig) -> None:
    """Recorded and answered, then the process died before the flags were set."""
    await append(rig.dovecot, rig.user, mail(1, NOT_COVERED))
    crashing = rig.worker("crashing", mailer=CrashAfterSend)
    with pytest.raises(Crash):
        await crashing.poller.poll_once()
    await crashing.poller.close()
    assert await flags(rig.dovecot, rig.user) == [set()]
    rig.clock.advance(LEASE_SECONDS + 1)
    assert await rig.worker("restarted").poller.poll_once() == 1
    assert await flags(rig.dovecot, rig.user) == [{BOT, HUMAN}]
    assert len(rig.replies()) == 1


async def test_mail_held_by_another_worker_is_left_untouched(rig: Rig) -> None:
    await append(rig.dovecot, rig.user, mail(1, NOT_COVERED))
    store = rig.workers[0].store
    assert await store.claim_inbound("email:h1@example.com", "other", rig.clock(), LEASE_SECONDS)
    assert await rig.workers[0].poller.poll_once() == 0
    assert await flags(rig.dovecot, rig.user) == [set()]


async def test_not_covered_mail_is_kept_as_a_masked_gap_once(rig: Rig) -> None:
    door, store = rig.workers[0].door, rig.workers[0].store
    done = await asyncio.gather(*(door.handle(mail(1, NOT_COVERED), worker=f"w{n}")
                                  for n in range(3)))  # fmt: skip
    assert [o.replayed for o in done if o.final].count(False) == 1  # the others: busy, replayed
    assert (await door.handle(mail(1, NOT_COVERED), worker="again")).replayed
    assert (await door.handle(mail(2, COVERED), worker="w")).action == "reply"
    gaps = await store.list_gaps(rig.clock() - timedelta(days=1))
    assert len(gaps) == 1 and gaps[0].lang == "en" and gaps[0].score < 0.5
    text = gaps[0].text
    assert text.startswith("How much does a pizza cost at your office canteen?")
    assert "jane.doe" not in text and "j***@example.com" in text
    assert "12 34 56 78" not in text and "[number]" in text
    # kept within the retention period only
    assert (await store.purge(rig.clock() + timedelta(days=1)))["gaps"] == 1
    assert await store.list_gaps(rig.clock() - timedelta(days=1)) == []


async def test_a_rate_limited_question_is_a_gap_a_note_or_a_request_is_not(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(AUTO_REPLY_LIMIT_PER_DAY="1")
    worker = rig.worker()
    await worker.store.migrate()
    for n, body in enumerate((COVERED, NOT_COVERED, "Thank you!", ERASE)):
        await worker.door.handle(mail(n, body, "bob@example.com"), worker="w1")
    assert len(rig.replies()) == 1
    gaps = await worker.store.list_gaps(rig.clock() - timedelta(days=1))
    assert [g.text[:30] for g in gaps] == ["How much does a pizza cost at "]


async def test_the_metered_door_counts_kept_gaps(rig: Rig) -> None:
    metrics, worker = Metrics(), rig.workers[0]
    door = MeteredEmailDoor(rig.brain, worker.store, worker.door.tickets, worker.mailer,
                            rig.settings, clock=rig.clock, metrics=metrics)  # fmt: skip
    await door.handle(mail(1, NOT_COVERED), worker="w1")
    await door.handle(mail(2, COVERED), worker="w1")
    stored = metrics.registry.get_sample_value(
        "privacybot_knowledge_gaps_total", {"outcome": "stored"}
    )
    assert stored == 1


def test_which_decisions_are_gaps() -> None:
    assert is_gap(Decision("reply", "not covered", covered=False, confidence=0.9))
    assert is_gap(Decision("reply", "answered, unsure", covered=True, confidence=0.49))
    assert not is_gap(Decision("reply", "answered", covered=True, confidence=0.5))
    assert not is_gap(Decision("ticket", "erasure", request="erasure", confidence=0.1))
    assert not is_gap(Decision("ignore", "a note", confidence=0.0))


def test_a_keyword_with_no_room_for_its_second_one_is_refused(rig: Rig) -> None:
    settings = with_imap(rig.settings, keyword="$" + "K" * 60)
    with pytest.raises(ImapError, match="at most 54 characters"):
        ImapPoller(settings.imap, rig.workers[0].door, worker_name="t")  # type: ignore[arg-type]
