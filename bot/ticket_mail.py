"""The mails about a ticket, to the privacy team and the requester, worded by tickets.toml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Final

from bot.answer import format_date
from bot.config import Settings
from bot.knowledge import TICKET_MAIL_KEYS, Knowledge, load_tickets_toml
from bot.mailer import BOT_HEADER, safe_header
from bot.store import Ticket
from bot.store.base import KINDS
from bot.text import REPLY_PREFIX

MAX_ORIGINAL: Final = 20_000  # characters of the original text quoted in the team's mail
MAIL_KEYS: Final = tuple(TICKET_MAIL_KEYS)

SectionQuote = tuple[str, str, str]  # (section id, title, verbatim quote)


@dataclass(frozen=True)
class TicketTexts:
    """knowledge/tickets.toml: on-behalf phrases, route notes, kind titles and mail wording."""

    on_behalf: tuple[str, ...]
    on_behalf_except: tuple[str, ...]
    route_notes: dict[str, str]
    kind_titles: dict[str, str]
    mail: dict[str, dict[str, str]]
    pattern: re.Pattern[str] | None = None

    def acts_for_other(self, text: str) -> bool:
        """True when `text` says its writer acts for someone else (on behalf of, fuldmagt...)."""
        if self.pattern is None:
            return False
        plain = _plain(text)
        for phrase in self.on_behalf_except:
            plain = plain.replace(_plain(phrase), " ")
        return self.pattern.search(plain) is not None

    def route_note(self, routes: tuple[str, ...]) -> str | None:
        """The team's notes for the routes an answer names, one per line, or None."""
        notes = [self.route_notes[r] for r in routes if r in self.route_notes]
        return "\n".join(notes) or None

    def kind_title(self, kind: str) -> str:
        return self.kind_titles.get(kind) or kind.replace("_", " ").capitalize()

    def text(self, lang: str, key: str, **values: object) -> str:
        return self.mail[lang if lang in self.mail else "en"][key].format(**values)


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def load_ticket_texts(folder: Path | None = None) -> TicketTexts:
    """Read tickets.toml from `folder` (default: the shipped knowledge/); KnowledgeError if bad."""
    raw = load_tickets_toml(folder, kinds=KINDS)
    behalf, mail = raw.get("on_behalf", {}), raw["mail"]
    phrases = tuple(p for lang in ("en", "da") for p in behalf.get(lang, []))
    words = sorted({_plain(p) for p in phrases if p.strip()}, key=len, reverse=True)
    pattern = (
        re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")
        if words
        else None
    )
    return TicketTexts(
        on_behalf=phrases,
        on_behalf_except=tuple(behalf.get("except", [])),
        route_notes=dict(raw.get("route_notes", {})),
        kind_titles=dict(raw.get("kind_titles", {})),
        mail={lang: {k: str(v) for k, v in mail[lang].items()} for lang in ("en", "da")},
        pattern=pattern,
    )


def requester_address(ticket: Ticket) -> Address | None:
    """The requester as a mail address (with their name), or None (a Slack user id...)."""
    if "@" not in ticket.requester:
        return None
    try:
        return Address(display_name=safe_header(ticket.requester_name), addr_spec=ticket.requester)
    except (ValueError, IndexError):
        return None


def notification_subject(ticket: Ticket, texts: TicketTexts) -> str:
    """E.g. `[PRIV-2026-000123] Erasure request - due 2026-12-25`."""
    due = ticket.effective_due_date.isoformat()
    return safe_header(f"[{ticket.id}] {texts.kind_title(ticket.kind)} request - due {due}")


def ticket_notification(
    ticket: Ticket,
    *,
    answer_sections: list[SectionQuote],
    settings: Settings,
    knowledge: Knowledge,
    texts: TicketTexts,
) -> EmailMessage:
    """The ticket as the privacy team receives it: structured fields, clauses, the original."""
    message = EmailMessage()
    message["Subject"] = notification_subject(ticket, texts)
    message["To"] = settings.privacy_team_address
    address = requester_address(ticket)
    if ticket.channel == "email" and address is not None:
        message["Reply-To"] = address
    message["Auto-Submitted"] = "auto-generated"
    message[BOT_HEADER] = "ticket"
    _set_body(message, notification_body(ticket, answer_sections, knowledge, texts))
    return message


def notification_body(
    ticket: Ticket, sections: list[SectionQuote], knowledge: Knowledge, texts: TicketTexts
) -> str:
    """The plain-text body of the team's ticket mail."""
    shown = safe_header(ticket.requester_name)  # user text: one line, whatever it held
    name = f"{shown} <{ticket.requester}>" if shown else ticket.requester
    email = ticket.channel == "email"
    identity = (
        "verified" if ticket.identity_verified
        else f"NOT verified - confirm that the sender controls {ticket.requester} before acting"
        if email else "NOT verified - confirm who the data subject is before acting"
    )  # fmt: skip
    behalf = (
        "YES - the requester writes for someone else: check their authority (power of attorney)"
        if ticket.on_behalf_of_other else "no"
    )  # fmt: skip
    fields = [
        ("Ticket", ticket.id),
        ("Kind", f"{ticket.kind} ({texts.kind_title(ticket.kind)} request)"),
        ("Status", ticket.status),
        ("Requester", name),
        ("Channel", ticket.channel),
        ("Language", ticket.lang),
        ("Received", f"{ticket.received_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"),
        ("Due", f"{ticket.effective_due_date} (one month from receipt, GDPR art. 12(3); "
                "extendable once by two months if the requester is told within the first month)"),
        ("Identity", identity),
        ("On behalf", behalf),
        ("Subject", safe_header(ticket.subject) or "-"),
        ("Source", ticket.source_message_id),
        ("Routes", ", ".join(ticket.routes) or "-"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in fields) + 2
    lines = [f"New formal {texts.kind_title(ticket.kind).lower()} request.", ""]
    lines += [f"{k + ':':<{width}}{v}" for k, v in fields]
    if ticket.route_note:
        lines += ["", "Route notes:", *(f"- {n}" for n in ticket.route_note.splitlines())]
    lines += ["", "Relevant sections of the policy (verbatim, Danish):"]
    if not sections:
        lines.append("- none found; read the request and the policy yourself")
    for sid, title, quote in sections:
        lines += ["", f"[{sid}] {title}", *(f"> {q}" for q in quote.splitlines() or [""])]
    effective = knowledge.policy.effective_date
    lines += ["", f"Policy: sha256 {ticket.policy_hash}"
              + (f" (effective {effective.isoformat()})" if effective else "")]  # fmt: skip
    original, cut = ticket.original_text[:MAX_ORIGINAL], len(ticket.original_text) - MAX_ORIGINAL
    lines += ["", "-- Original message --", *(f"> {line}" for line in original.splitlines())]
    if cut > 0:
        lines.append(f"[... {cut} more characters: privacybot tickets show {ticket.id}]")
    lines += ["", f"Act on it with: privacybot tickets show {ticket.id}"]
    return "\n".join(lines) + "\n"


def acknowledgement_text(
    ticket: Ticket, *, answer_sections: list[SectionQuote], knowledge: Knowledge, texts: TicketTexts
) -> str:
    """The acknowledgement in the requester's language (also what a chat door can post)."""
    lang = ticket.lang
    kind = knowledge.kinds.get(lang, {}).get(ticket.kind, ticket.kind.replace("_", " "))
    name = safe_header(ticket.requester_name)
    parts = [
        texts.text(lang, "greeting", name=name) if name else texts.text(lang, "greeting_anonymous"),
        texts.text(lang, "ack_intro", kind=kind, ticket=ticket.id),
    ]
    steps = []
    if not ticket.identity_verified and ticket.channel == "email":
        steps.append(texts.text(lang, "identity_step"))
    if ticket.on_behalf_of_other:
        steps.append(texts.text(lang, "on_behalf_step"))
    steps.append(
        texts.text(lang, "deadline_step", due=format_date(ticket.effective_due_date, lang))
    )
    parts.append(texts.text(lang, "next_heading") + "\n" + "\n".join(f"- {s}" for s in steps))
    if answer_sections:
        sid, title, quote = answer_sections[0]
        if lang == "da":
            title = knowledge.policy.section(sid).title
        intro = texts.text(lang, "clause_intro", section=sid, title=title)
        parts.append(intro + "\n" + "\n".join(f"> {q}" for q in quote.splitlines()))
    parts.append(texts.text(lang, "signature"))
    return "\n\n".join(parts) + "\n"


def acknowledgement(
    ticket: Ticket,
    *,
    answer_sections: list[SectionQuote],
    knowledge: Knowledge,
    texts: TicketTexts,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """The acknowledgement mail to an email requester; ValueError if they have no address."""
    address = requester_address(ticket)
    if address is None:
        raise ValueError(f"ticket {ticket.id}: the requester is not an email address")
    message = EmailMessage()
    message["To"] = address
    message["Subject"] = _ack_subject(ticket, texts)
    reference = _message_id(in_reply_to)
    if reference:
        message["In-Reply-To"] = reference
        message["References"] = reference
    message["Auto-Submitted"] = "auto-replied"
    message[BOT_HEADER] = "ack"
    text = acknowledgement_text(
        ticket, answer_sections=answer_sections, knowledge=knowledge, texts=texts
    )
    _set_body(message, text)
    return message


def extension_notice(
    ticket: Ticket, *, reason: str, texts: TicketTexts, lang: str | None = None
) -> EmailMessage:
    """Tells an email requester that their deadline was extended, to when, and why."""
    address = requester_address(ticket)
    if address is None:
        raise ValueError(f"ticket {ticket.id}: the requester is not an email address")
    lang = lang or ticket.lang
    name = safe_header(ticket.requester_name)
    body = texts.text(
        lang, "extension_body", ticket=ticket.id, reason=reason.strip(),
        received=format_date(ticket.received_at.astimezone(UTC).date(), lang),
        due=format_date(ticket.effective_due_date, lang),
    )  # fmt: skip
    greeting = (
        texts.text(lang, "greeting", name=name) if name else texts.text(lang, "greeting_anonymous")
    )
    message = EmailMessage()
    message["To"] = address
    message["Subject"] = safe_header(texts.text(lang, "extension_subject", ticket=ticket.id))
    message["Auto-Submitted"] = "auto-generated"
    message[BOT_HEADER] = "extension"
    _set_body(message, "\n\n".join([greeting, body, texts.text(lang, "signature")]) + "\n")
    return message


def _ack_subject(ticket: Ticket, texts: TicketTexts) -> str:
    original = safe_header(REPLY_PREFIX.sub("", safe_header(ticket.subject)), 120)
    if original:
        return safe_header(
            texts.text(ticket.lang, "ack_subject_reply", subject=original, ticket=ticket.id)
        )
    return safe_header(texts.text(ticket.lang, "ack_subject", ticket=ticket.id))


def _message_id(value: str | None) -> str | None:
    cleaned = safe_header(value, 250).replace(" ", "")
    if not cleaned:
        return None
    cleaned = cleaned if cleaned.startswith("<") else f"<{cleaned.strip('<>')}>"
    return cleaned if re.fullmatch(r"<[^<>\s]+>", cleaned) else None


def _set_body(message: EmailMessage, text: str) -> None:
    message.set_content(text, cte=None if text.isascii() else "quoted-printable")
