"""The email door: every inbound message gets exactly one recorded outcome (reply/ticket/ignore)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

from bot.brain import Brain
from bot.clock import utcnow
from bot.config import Settings
from bot.errors import StoreError
from bot.gaps import LOW_CONFIDENCE, gap_text
from bot.logs import mask_address, work
from bot.mail.parse import InboundMail, parse_mail
from bot.mail.reply import recipient
from bot.mail.triage import FOR_PEOPLE, Decision, decide
from bot.mailer import Mailer, describe
from bot.store import Outgoing, Store
from bot.tickets import TicketService

log = logging.getLogger("bot.mail")

LEASE_SECONDS: Final = 600  # longer than the slowest handling (SMTP timeouts included)
RATE_WINDOW: Final = timedelta(hours=24)
MAX_BODY_CHARS: Final = 200_000  # of decoded body text read from one message
MAX_REASON: Final = 500  # characters of a reason stored with an outcome
MAX_BACKLOG: Final = timedelta(days=7)  # how far back a Date header may set received_at


@dataclass(frozen=True)
class Outcome:
    """What became of one message. `final` means it is recorded: the mailbox may mark it done."""

    action: str  # reply | ticket | ignore | error | busy
    reason: str
    ticket_id: str | None = None
    key: str = ""
    final: bool = True
    replayed: bool = False  # recorded earlier (by this or another worker): nothing done now

    @property
    def needs_person(self) -> bool:
        """Recorded, and the privacy team must still act: an error, or a message left to them
        (not covered by the policy, rate limited, a note); read from the stored reason too."""
        return self.final and (self.action == "error" or self.reason.endswith(FOR_PEOPLE))


def inbound_key(mail: InboundMail) -> str:
    """The exactly-once key: the Message-ID, or the parser's sha256 of a message without one."""
    return f"email:{mail.message_id}"


def received_at(mail: InboundMail, now: datetime) -> datetime:
    """When `mail` was received: its Date header clamped to [now - MAX_BACKLOG, now], else now.

    A backlog (the bot was down, the mailbox was read late) must not push the legal deadline
    later, and a forged future or ancient date must not move it either way beyond the clamp.
    """
    value = mail.header("date")
    if not value:
        return now
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return now
    if sent.tzinfo is None or sent.utcoffset() is None:  # "-0000": UTC, origin unknown
        sent = sent.replace(tzinfo=UTC)
    return min(max(sent.astimezone(UTC), now - MAX_BACKLOG), now)


def is_gap(decision: Decision) -> bool:
    """A question the policy does not cover or answers with low confidence: a knowledge gap
    (a reply, sent or held back by the rate limit; not a request, a note or a machine)."""
    return decision.action == "reply" and (
        not decision.covered or decision.confidence < LOW_CONFIDENCE
    )


def fit(reason: str) -> str:
    """`reason` within MAX_REASON characters, its ending (who must act) kept."""
    if len(reason) <= MAX_REASON:
        return reason
    return reason[: MAX_REASON - 61].rstrip() + "…" + reason[-60:]


class EmailDoor:
    """Turns raw inbound mail into one decision and acts on it at most once per message.

    Per message: claim the key (a lease) -> decide -> rate limit -> act -> finish with the
    outcome. A reply is stored in the outbox in the same transaction as the outcome, then
    flushed; a ticket and its mail are stored in one transaction, idempotent on the message
    key. A question the policy does not cover is kept as a knowledge gap (masked).
    """

    def __init__(
        self,
        brain: Brain,
        store: Store,
        tickets: TicketService,
        mailer: Mailer,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: int = LEASE_SECONDS,
    ) -> None:
        self.brain = brain
        self.store = store
        self.tickets = tickets
        self.mailer = mailer
        self.settings = settings
        self.lease_seconds = lease_seconds
        self._clock = clock
        self.own_domains = frozenset({settings.message_id_domain.lower()})

    def decide(self, mail: InboundMail) -> Decision:
        """The pure decision for `mail` with this deployment's own addresses."""
        return decide(
            mail, self.brain,
            own_addresses=self.settings.own_addresses, own_domains=self.own_domains,
        )  # fmt: skip

    async def handle(self, raw: bytes, *, worker: str) -> Outcome:
        """Process one raw message exactly once; never raises (a failure is outcome "error")."""
        key = "email:unreadable"
        with work():
            try:
                data = bytes(raw)
                key = "email:sha256:" + hashlib.sha256(data).hexdigest()
                mail = parse_mail(data, max_body_chars=MAX_BODY_CHARS)
                key = inbound_key(mail)
                return await self._handle(mail, key, worker)
            except Exception as exc:  # one bad message must not stop the worker
                return await self._failed(key, exc)

    async def _handle(self, mail: InboundMail, key: str, worker: str) -> Outcome:
        now = self._clock()
        if not await self.store.claim_inbound(key, worker, now, self.lease_seconds):
            done = await self.store.inbound_outcome(key)
            if done is None:
                return Outcome("busy", "another worker is handling this message", None, key, False)
            reason = str(done.get("reason") or "")
            return Outcome(str(done["action"]), reason, done.get("ticket_id"), key, True, True)
        decision = self.decide(mail)
        outcome = await self._act(mail, key, decision, now)
        if is_gap(decision) and not outcome.replayed:
            await self._keep_gap(decision)
        return outcome

    async def _act(self, mail: InboundMail, key: str, decision: Decision, now: datetime) -> Outcome:
        if decision.action == "ignore":
            return await self._finish(key, mail, "ignore", decision.reason)
        to = recipient(mail)
        if to is None:  # the guard already refuses mail without a usable address
            return await self._finish(key, mail, "ignore", "no usable sender address")
        sender_key = f"email:{to.lower()}"
        sent = await self.store.count_auto_replies(sender_key, now - RATE_WINDOW)
        limit = self.settings.auto_reply_limit
        capped = None
        if sent >= limit:
            capped = f"rate limited: {sent} auto-replies to this sender in 24 h (limit {limit})"
        # A formal request always opens its ticket (the team is always told); the cap only
        # withholds automatic mail to the sender: the reply, or the acknowledgement.
        if decision.action == "ticket" and decision.request is not None:
            return await self._ticket(mail, key, decision, to, sender_key, now, capped)
        if capped is not None:
            return await self._finish(key, mail, "ignore", f"{capped}; {FOR_PEOPLE}")
        return await self._reply(mail, key, decision, sender_key, now)

    async def _ticket(
        self, mail: InboundMail, key: str, decision: Decision, to: str, sender_key: str,
        now: datetime, capped: str | None,
    ) -> Outcome:  # fmt: skip
        """Open the ticket; `capped` (why) withholds the requester's acknowledgement."""
        # open_ticket is idempotent on source_message_id: after a crash the same ticket comes
        # back with created=False and no second acknowledgement is sent.
        if capped is None:
            await self.store.record_auto_reply(sender_key, now)
        ticket, created = await self.tickets.open_ticket(
            kind=decision.request or "", requester=to, text=mail.text.strip() or decision.question,
            channel="email", lang=decision.lang, requester_name=mail.sender_name or None,
            subject=mail.subject or None, source_message_id=key,
            received_at=received_at(mail, now),
            in_reply_to=None if mail.message_id.startswith("sha256:") else mail.message_id,
            withhold_ack=None if capped is None else f"no acknowledgement sent: {capped}",
        )  # fmt: skip
        reason = decision.reason if created else f"{decision.reason} (ticket existed already)"
        if capped is not None:
            reason = f"{reason}; no acknowledgement: {capped}"
        return await self._finish(key, mail, "ticket", reason, ticket.id)

    async def _reply(
        self, mail: InboundMail, key: str, decision: Decision, sender_key: str, now: datetime
    ) -> Outcome:
        if decision.reply is None:
            return await self._finish(key, mail, "ignore", "nothing to send")
        out = self.mailer.prepare(decision.reply, purpose="reply")  # bytes and Message-ID fixed
        # Counted first: a crash before the finish counts a reply too many, never one too few.
        await self.store.record_auto_reply(sender_key, now)
        # The outcome and the queued reply are one transaction: a crash before it leaves nothing
        # (the message is handled again once the lease runs out), after it the reply is in the
        # outbox and goes out once (outbox messages are claimed before they are sent).
        outcome, mail_ids = await self._record(key, mail, "reply", decision.reason, outbox=(out,))
        if mail_ids:
            try:
                await self.mailer.flush(ids=mail_ids)
            except Exception as exc:  # stored and queued: the outbox flusher will send it
                log.warning("reply stays queued in the outbox: %s", describe(exc))
        return outcome

    async def _finish(
        self, key: str, mail: InboundMail, action: str, reason: str, ticket_id: str | None = None
    ) -> Outcome:
        return (await self._record(key, mail, action, reason, ticket_id))[0]

    async def _record(
        self, key: str, mail: InboundMail, action: str, reason: str,
        ticket_id: str | None = None, *, outbox: tuple[Outgoing, ...] = (),
    ) -> tuple[Outcome, tuple[int, ...]]:  # fmt: skip
        """Finish the message with this outcome (and its outbox mail); the ids queued now."""
        recorded, mail_ids = await self.store.finish_inbound(
            key, action=action, reason=fit(reason), ticket_id=ticket_id, now=self._clock(),
            outbox=outbox,
        )  # fmt: skip
        if not recorded:  # another worker finished it first (its lease had run out on us)
            done = await self.store.inbound_outcome(key) or {}
            action = str(done.get("action", action))
            reason = str(done.get("reason") or reason)
            ticket_id = done.get("ticket_id", ticket_id)
        ticket = f" ticket {ticket_id}" if ticket_id else ""
        why = reason.split(":")[0][:60]
        log.info("mail from %s: %s (%s)%s", mask_address(mail.sender), action, why, ticket)
        return Outcome(action, reason, ticket_id, key, True, not recorded), mail_ids

    async def _keep_gap(self, decision: Decision) -> None:
        """Keep the question (masked) as a knowledge gap; a failure is logged, never raised."""
        try:
            await self.store.add_gap(
                text=gap_text(decision.question), lang=decision.lang or "en",
                score=decision.confidence, at=self._clock(),
            )  # fmt: skip
        except Exception as exc:  # the outcome stands; a gap is only a hint for the team
            log.warning("could not keep a knowledge gap: %s", describe(exc))
            self.gap_kept("failed")
            return
        self.gap_kept("stored")

    def gap_kept(self, outcome: str) -> None:
        """Called once per gap with "stored" or "failed" (the metered door counts them)."""

    async def _failed(self, key: str, exc: Exception) -> Outcome:
        """Record outcome "error" (final: the team sees the mail unread). A store failure is
        not recorded: the outcome is not final and the message is tried again later."""
        problem = describe(exc)
        log.error("inbound mail %s failed: %s", hashlib.sha256(key.encode()).hexdigest()[:12],
                  problem)  # fmt: skip
        reason = fit(f"error: {problem}; {FOR_PEOPLE}")
        if isinstance(exc, StoreError):
            return Outcome("error", reason, None, key, False)
        try:
            recorded, _ = await self.store.finish_inbound(
                key, action="error", reason=reason, ticket_id=None, now=self._clock()
            )
            done = None if recorded else await self.store.inbound_outcome(key)
        except Exception as again:
            log.error("could not record the failure: %s", describe(again))
            return Outcome("error", reason, None, key, False)
        if done is not None:  # the message had its outcome before the failure: that one stands
            action, why = str(done["action"]), str(done.get("reason") or "")
            return Outcome(action, why, done.get("ticket_id"), key, True, True)
        return Outcome("error", reason, None, key, True)
