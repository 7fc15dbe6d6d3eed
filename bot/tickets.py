"""The ticket service: the one way formal requests become tickets, change, and are mailed about."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Final

from bot.answer import SectionRef
from bot.brain import Brain, Message
from bot.config import Settings
from bot.deadlines import add_months, due_date
from bot.errors import NotFound, PrivacyBotError
from bot.knowledge import default_dir
from bot.mailer import Mailer
from bot.store import NewTicket, Store, Ticket
from bot.store.base import CHANNELS, CLOSED_STATUSES, KINDS, require_utc
from bot.ticket_mail import (
    SectionQuote,
    TicketTexts,
    acknowledgement,
    extension_notice,
    load_ticket_texts,
    requester_address,
    ticket_notification,
)

log = logging.getLogger(__name__)

BOT_ACTOR: Final = "privacybot"
MAX_SECTIONS: Final = 3  # relevant sections named on a ticket
MIN_SECTION_SCORE: Final = 0.5  # ... besides the top one
EXTENSION_MONTHS: Final = 2  # GDPR art. 12(3)
VERIFIED_CHANNELS: Final = frozenset({"slack", "cli"})  # the requester is a signed-in person


class TicketError(PrivacyBotError, ValueError):
    """A ticket change the rules do not allow (closing a closed ticket, extending twice...)."""


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


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
    ) -> tuple[Ticket, bool]:
        """Open the ticket for one formal request; returns (ticket, created_now).

        The same `source_message_id` again (even from another process, at the same moment)
        returns the existing ticket and sends nothing. A new ticket is mailed to the privacy
        team, and an email requester gets an acknowledgement in their language.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        received = require_utc(received_at or self._clock(), "received_at")
        answer = self.brain.answer(Message(text, lang=lang, channel=channel, sender=requester))
        sections = self.relevant_sections(text, answer.lang, answer.sections, answer.quote)
        on_behalf = self.texts.acts_for_other(text)
        new = NewTicket(
            kind=kind,
            requester=requester.strip(),
            requester_name=requester_name.strip() if requester_name else None,
            channel=channel,
            lang=answer.lang,
            received_at=received,
            due_date=due_date(received),
            sections=tuple(s[0] for s in sections),
            routes=answer.contacts,
            route_note=self.texts.route_note(answer.contacts),
            original_text=text,
            subject=subject,
            source_message_id=source_message_id,
            policy_hash=answer.policy_sha256,
            identity_verified=channel in VERIFIED_CHANNELS and not on_behalf,
            on_behalf_of_other=on_behalf,
        )
        ticket, created = await self.store.create_ticket(new)
        if not created:
            log.info("ticket %s already exists for this source message; nothing sent", ticket.id)
            return ticket, False
        if channel == "email":
            ticket = await self.store.set_status(
                ticket.id, "awaiting_identity", actor=BOT_ACTOR,
                note="email request: the sender's address must be confirmed",
            )  # fmt: skip
        log.info("opened ticket %s (%s via %s)", ticket.id, kind, channel)
        await self.mailer.send(self.notification(ticket, sections), purpose="ticket")
        if channel != "slack" and requester_address(ticket) is not None:
            ack = acknowledgement(
                ticket, answer_sections=sections, knowledge=self.brain.knowledge,
                texts=self.texts, in_reply_to=in_reply_to,
            )  # fmt: skip
            await self.mailer.send(ack, purpose="ack")
        elif channel == "email":
            log.warning(
                "ticket %s: the requester is not a usable address; no acknowledgement", ticket.id
            )
        return ticket, True

    def notification(self, ticket: Ticket, sections: list[SectionQuote]) -> EmailMessage:
        """The team's mail for `ticket` (also what a chat door may show)."""
        return ticket_notification(
            ticket, answer_sections=sections, settings=self.settings,
            knowledge=self.brain.knowledge, texts=self.texts,
        )  # fmt: skip

    def relevant_sections(
        self, text: str, lang: str, ranked: tuple[SectionRef, ...], top_quote: str
    ) -> list[SectionQuote]:
        """Up to three cited sections with English titles and verbatim quotes (the top one's
        quote is the answer's; the others get their best-matching paragraph)."""
        refs = [r for i, r in enumerate(ranked) if i == 0 or r.score >= MIN_SECTION_SCORE]
        refs = refs[:MAX_SECTIONS]
        if not refs:
            return []
        composer = self.brain.composer
        terms = self.brain.retriever.rank(" ".join(text.split()), lang).terms
        found: list[SectionQuote] = []
        for i, ref in enumerate(refs):
            sid = ref.id
            quote = (
                top_quote
                if i == 0 and top_quote
                else composer.excerpt(composer.best_paragraph(sid, terms), terms)
            )
            found.append((sid, composer.title(sid, "en"), quote))
        return found

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
        extended = await self.store.extend_ticket(
            ticket.id, new_due, actor=actor, reason=reason.strip()
        )
        log.info("ticket %s extended to %s by %s", extended.id, new_due, actor)
        if requester_address(extended) is not None:
            notice = extension_notice(extended, reason=reason, texts=self.texts)
            await self.mailer.send(notice, purpose="extension")
        return extended
