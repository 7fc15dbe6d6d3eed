"""A formal request drafted as a ticket: its fields, cited sections, first status and mail (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Final

from bot.answer import SectionRef
from bot.brain import Brain, Message
from bot.deadlines import due_date
from bot.store import NewTicket, Ticket
from bot.store.base import CHANNELS, KINDS, require_utc
from bot.ticket_mail import SectionQuote, TicketTexts, acknowledgement, requester_address

MAX_SECTIONS: Final = 3  # relevant sections named on a ticket
MIN_SECTION_SCORE: Final = 0.5  # ... besides the top one
DRY_RUN_ID: Final = "PRIV-DRYRUN"  # the ticket id of a preview (nothing stored)
# Only the data subject at the command line counts as identified; a Slack ticket is staff
# escalating for a customer, and an email's sender address must still be confirmed.
VERIFIED_CHANNELS: Final = frozenset({"cli"})
UNVERIFIED_NOTES: Final = {
    "email": "the sender's address must be confirmed",
    "slack": "escalated from Slack by staff: confirm who the data subject is",
}


@dataclass(frozen=True)
class Draft:
    """A ticket ready to store: the record, its cited sections, first status and history note."""

    new: NewTicket
    sections: list[SectionQuote]
    status: str
    note: str
    acknowledge: bool  # the requester gets an acknowledgement (when they have an address)

    def preview(self, now: datetime) -> Ticket:
        """The ticket as it would be stored, with the placeholder id DRY_RUN_ID."""
        fields = {name: getattr(self.new, name) for name in NewTicket.__dataclass_fields__}
        return Ticket(**fields, id=DRY_RUN_ID, status=self.status, created_at=now,
                      extended_due_date=None, closed_at=None, history=())  # fmt: skip


def relevant_sections(
    brain: Brain, text: str, lang: str, ranked: tuple[SectionRef, ...], top_quote: str
) -> list[SectionQuote]:
    """Up to three cited sections with English titles and verbatim quotes (the top one's
    quote is the answer's; the others get their best-matching paragraph)."""
    refs = [r for i, r in enumerate(ranked) if i == 0 or r.score >= MIN_SECTION_SCORE]
    refs = refs[:MAX_SECTIONS]
    if not refs:
        return []
    composer = brain.composer
    terms = brain.retriever.rank(" ".join(text.split()), lang).terms
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


def draft_ticket(
    brain: Brain,
    texts: TicketTexts,
    *,
    kind: str,
    requester: str,
    text: str,
    channel: str,
    received_at: datetime,
    source_message_id: str,
    lang: str | None = None,
    requester_name: str | None = None,
    subject: str | None = None,
    withhold_ack: str | None = None,
) -> Draft:
    """Draft the ticket for one formal request; ValueError on an unknown kind or channel."""
    if kind not in KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    received = require_utc(received_at, "received_at")
    answer = brain.answer(Message(text, lang=lang, channel=channel, sender=requester))
    sections = relevant_sections(brain, text, answer.lang, answer.sections, answer.quote)
    on_behalf = texts.acts_for_other(text)
    verified = channel in VERIFIED_CHANNELS and not on_behalf
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
        route_note=texts.route_note(answer.contacts),
        original_text=text,
        subject=subject,
        source_message_id=source_message_id,
        policy_hash=answer.policy_sha256,
        identity_verified=verified,
        on_behalf_of_other=on_behalf,
    )
    status, note = "open", f"received via {channel}"
    if not verified:
        status = "awaiting_identity"
        why = UNVERIFIED_NOTES.get(channel, "confirm who the data subject is")
        if on_behalf:
            why += "; written for someone else: check the writer's authority"
        note = f"{note}; {why}"
    if withhold_ack is not None:
        note = f"{note}; {withhold_ack}"
    acknowledge = withhold_ack is None and channel != "slack"
    return Draft(new, sections, status, note, acknowledge)


def acknowledgement_for(
    draft: Draft, ticket: Ticket, brain: Brain, texts: TicketTexts, in_reply_to: str | None
) -> EmailMessage | None:
    """The requester's acknowledgement of `ticket`, or None when none is sent."""
    if not draft.acknowledge or requester_address(ticket) is None:
        return None
    return acknowledgement(
        ticket, answer_sections=draft.sections, knowledge=brain.knowledge, texts=texts,
        in_reply_to=in_reply_to,
    )  # fmt: skip
