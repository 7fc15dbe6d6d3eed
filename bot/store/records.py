"""The records a store reads and writes, their allowed values, and checks on them."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

KINDS: Final = frozenset(
    {
        "access",
        "erasure",
        "rectification",
        "restriction",
        "portability",
        "objection",
        "withdraw_consent",
        "marketing_opt_out",
    }
)
CHANNELS: Final = frozenset({"email", "slack", "web", "cli"})
LANGS: Final = frozenset({"en", "da"})
STATUSES: Final = frozenset({"open", "awaiting_identity", "extended", "done", "rejected"})
OPEN_STATUSES: Final = ("open", "awaiting_identity", "extended")
CLOSED_STATUSES: Final = frozenset({"done", "rejected"})


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A formal request to be stored; `source_message_id` makes creation idempotent."""

    kind: str
    requester: str
    requester_name: str | None
    channel: str
    lang: str
    received_at: datetime
    due_date: date
    sections: tuple[str, ...]
    routes: tuple[str, ...]
    route_note: str | None
    original_text: str
    subject: str | None
    source_message_id: str
    policy_hash: str
    identity_verified: bool
    on_behalf_of_other: bool


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of a ticket: who did what, from which status to which, and why."""

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Ticket(NewTicket):
    """A stored ticket: the request plus its id, status and full history (oldest first)."""

    id: str
    status: str
    created_at: datetime
    extended_due_date: date | None
    closed_at: datetime | None
    history: tuple[HistoryEntry, ...]

    @property
    def effective_due_date(self) -> date:
        """The deadline in force: the extended one when the ticket was extended."""
        return self.extended_due_date or self.due_date

    @property
    def is_open(self) -> bool:
        """True while the ticket still needs work."""
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outbound message kept until it is delivered; never dropped (a `dead` one waits for
    `privacybot outbox retry`). While claimed, `next_attempt_at` is the end of the lease."""

    id: int
    message: bytes
    recipients: tuple[str, ...]
    purpose: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    ticket_id: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    dead_at: datetime | None = None

    @property
    def state(self) -> str:
        """sent, dead, or queued (waiting for its next attempt, or claimed by a worker)."""
        return "sent" if self.sent_at else "dead" if self.dead_at else "queued"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready for the outbox: wire bytes (Message-ID already stamped), envelope."""

    message: bytes
    recipients: tuple[str, ...]
    purpose: str
    not_before: datetime


# Builds a new ticket's mail from the ticket as stored (its id is known only then).
MailFactory = Callable[[Ticket], Sequence[Outgoing]]


@dataclass(frozen=True, slots=True)
class Gap:
    """A question the bot declined or answered with low confidence."""

    id: int
    text: str
    lang: str
    score: float
    at: datetime


def require_utc(value: datetime, name: str = "datetime") -> datetime:
    """Return `value` converted to UTC; refuse naive datetimes."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


def hash_key(key: str) -> str:
    """Return the SHA-256 hex digest under which an inbound or sender key is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def ticket_id(year: int, seq: int) -> str:
    """Format a human-friendly ticket id, e.g. PRIV-2026-000123."""
    return f"PRIV-{year}-{seq:06d}"


def check_new_ticket(t: NewTicket) -> None:
    """Raise ValueError when a NewTicket has a field outside the allowed values."""
    if t.kind not in KINDS:
        raise ValueError(f"unknown request kind {t.kind!r}")
    if t.channel not in CHANNELS:
        raise ValueError(f"unknown channel {t.channel!r}")
    if t.lang not in LANGS:
        raise ValueError(f"unknown language {t.lang!r}")
    if not t.source_message_id:
        raise ValueError("source_message_id must not be empty")
    require_utc(t.received_at, "received_at")


def check_status(status: str) -> None:
    """Raise ValueError for an unknown ticket status."""
    if status not in STATUSES:
        raise ValueError(f"unknown ticket status {status!r}")


def check_lease(lease_seconds: int) -> None:
    """Raise ValueError unless a lease is a positive number of seconds."""
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
