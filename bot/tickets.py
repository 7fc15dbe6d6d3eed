"""The ticket service: the one way formal requests become tickets, change, and are mailed about."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Final

from bot.brain import Brain
from bot.clock import utcnow
from bot.config import Settings
from bot.deadlines import add_months
from bot.errors import NotFound, PrivacyBotError
from bot.knowledge import default_dir
from bot.mailer import Mailer
from bot.store import Outgoing, Store, Ticket
from bot.store.base import CLOSED_STATUSES
from bot.ticket_draft import acknowledgement_for, draft_ticket
from bot.ticket_mail import (
    SectionQuote,
    TicketTexts,
    extension_notice,
    load_ticket_texts,
    requester_address,
    ticket_notification,
)

log = logging.getLogger(__name__)

BOT_ACTOR: Final = "privacybot"
EXTENSION_MONTHS: Final = 2  # GDPR art. 12(3)


class TicketError(PrivacyBotError, ValueError):
    """A ticket change the rules do not allow (closing a closed ticket, extending twice...)."""


class TicketService:
    """Creates tickets exactly once per source message, changes them, and sends their mail."""

    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        brain: Brain,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        texts: TicketTexts | None = None,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.brain = brain
        self.settings = settings
        self.texts = texts or load_ticket_texts(settings.knowledge_dir or default_dir())
        self._clock = clock

    async def open_ticket(
        self,
        *,
        kind: str,
        requester: str,
        text: str,
        channel: str,
        lang: str | None = None,
        requester_name: str | None = None,
        subject: str | None = None,
        source_message_id: str,
        received_at: datetime | None = None,
        in_reply_to: str | None = None,
        withhold_ack: str | None = None,
    ) -> tuple[Ticket, bool]:
        """Open the ticket for one formal request; returns (ticket, created_now).

        The ticket, its mail to the privacy team and an email requester's acknowledgement
        (in their language) are stored in one transaction, then delivered at once; mail that
        cannot go out now stays in the outbox and is retried. The same `source_message_id`
        again (even from another process, at the same moment) returns the existing ticket and
        queues nothing new; it only delivers that ticket's mail still waiting, if any.
        `withhold_ack` (why, e.g. the sender's auto-reply cap) sends no acknowledgement and
        notes why on the ticket; the team's mail is always sent.
        """
        draft = draft_ticket(
            self.brain, self.texts, kind=kind, requester=requester, text=text, channel=channel,
            received_at=received_at or self._clock(), source_message_id=source_message_id,
            lang=lang, requester_name=requester_name, subject=subject, withhold_ack=withhold_ack,
        )  # fmt: skip

        def mails(ticket: Ticket) -> list[Outgoing]:
            team = self.notification(ticket, draft.sections)
            out = [self.mailer.prepare(team, purpose="ticket")]
            ack = acknowledgement_for(draft, ticket, self.brain, self.texts, in_reply_to)
            if ack is not None:
                out.append(self.mailer.prepare(ack, purpose="ack"))
            return out

        ticket, created = await self.store.create_ticket(
            draft.new, status=draft.status, note=draft.note, outbox=mails
        )
        if created:
            log.info("opened ticket %s (%s via %s)", ticket.id, kind, channel)
            if channel == "email" and requester_address(ticket) is None:
                log.warning("ticket %s: the requester is not a usable address; "
                            "no acknowledgement", ticket.id)  # fmt: skip
        else:
            log.info("ticket %s already exists for this source message", ticket.id)
        await self.deliver(ticket.id)
        return ticket, created

    async def deliver(self, ticket_id: str) -> int:
        """Send a ticket's queued mail now; returns how many went out. What cannot go out
        stays queued for the outbox flusher, so a failure here is logged, not raised."""
        try:
            waiting = [m.id for m in await self.store.list_mail(ticket_id=ticket_id)]
            return await self.mailer.flush(ids=waiting) if waiting else 0
        except PrivacyBotError as exc:
            log.warning("ticket %s: its mail stays queued for the outbox: %s", ticket_id, exc)
            return 0

    def notification(self, ticket: Ticket, sections: list[SectionQuote]) -> EmailMessage:
        """The team's mail for `ticket` (also what a chat door may show)."""
        return ticket_notification(
            ticket, answer_sections=sections, settings=self.settings,
            knowledge=self.brain.knowledge, texts=self.texts,
        )  # fmt: skip

    async def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; NotFound (one clear line) when there is none."""
        ticket = await self.store.get_ticket(ticket_id.strip().upper())
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id.strip()}")
        return ticket

    async def list(self, *, open_only: bool = False, overdue: bool = False) -> list[Ticket]:
        """Tickets oldest first; `overdue` keeps the open ones past their deadline today."""
        today = self._clock().astimezone(UTC).date()
        return await self.store.list_tickets(
            open_only=open_only, overdue_on=today if overdue else None
        )

    async def close(self, ticket_id: str, *, actor: str, note: str, status: str = "done") -> Ticket:
        """Close a ticket as `done` or `rejected`, recording who did it and why."""
        if status not in CLOSED_STATUSES:
            raise TicketError(
                f"a ticket closes as {' or '.join(sorted(CLOSED_STATUSES))}, not {status!r}"
            )
        if not note.strip():
            raise TicketError("closing a ticket needs a note saying what was done")
        ticket = await self.get(ticket_id)
        if not ticket.is_open:
            raise TicketError(f"{ticket.id} is already closed ({ticket.status})")
        closed = await self.store.set_status(ticket.id, status, actor=actor, note=note.strip())
        log.info("ticket %s closed as %s by %s", closed.id, status, actor)
        return closed

    async def extend(self, ticket_id: str, *, actor: str, reason: str) -> Ticket:
        """Extend the deadline by two months (GDPR art. 12(3)) and tell the requester why.

        Allowed once, on an open ticket, while the first month is still running.
        """
        if not reason.strip():
            raise TicketError("an extension needs a reason; the requester is told it")
        ticket = await self.get(ticket_id)
        if not ticket.is_open:
            raise TicketError(f"{ticket.id} is closed ({ticket.status}); it cannot be extended")
        if ticket.extended_due_date is not None:
            raise TicketError(f"{ticket.id} was already extended to {ticket.extended_due_date}; "
                              "GDPR art. 12(3) allows one extension of two months")  # fmt: skip
        today = self._clock().astimezone(UTC).date()
        if today > ticket.due_date:
            raise TicketError(f"{ticket.id} was due on {ticket.due_date}; an extension must be "
                              "notified within the first month")  # fmt: skip
        new_due = add_months(ticket.due_date, EXTENSION_MONTHS)

        def notice(extended: Ticket) -> list[Outgoing]:
            if requester_address(extended) is None:
                return []
            mail = extension_notice(extended, reason=reason, texts=self.texts)
            return [self.mailer.prepare(mail, purpose="extension")]

        extended = await self.store.extend_ticket(
            ticket.id, new_due, actor=actor, reason=reason.strip(), outbox=notice
        )
        log.info("ticket %s extended to %s by %s", extended.id, new_due, actor)
        await self.deliver(extended.id)
        return extended

    async def verify_identity(self, ticket_id: str, *, actor: str, note: str) -> Ticket:
        """Record that the requester is who they say (how, in `note`); a ticket awaiting
        identity becomes open, an extended one stays extended."""
        if not note.strip():
            raise TicketError("verifying an identity needs a note saying how it was checked")
        ticket = await self.get(ticket_id)
        if not ticket.is_open:
            raise TicketError(f"{ticket.id} is closed ({ticket.status})")
        if ticket.identity_verified:
            raise TicketError(f"{ticket.id}: the requester's identity is already verified")
        verified = await self.store.verify_identity(ticket.id, actor=actor, note=note.strip())
        log.info("ticket %s: identity verified by %s", verified.id, actor)
        return verified
