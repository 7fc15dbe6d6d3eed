"""The store interface every backend implements, and the records it reads and writes."""

import abc
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Final, Self

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
class Ticket:
    """A stored ticket with its id, status and full history (oldest first)."""

    id: str
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
    """An outbound message kept until it is delivered; never dropped."""

    id: int
    message: bytes
    recipients: tuple[str, ...]
    purpose: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


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


class Store(abc.ABC):
    """Persistence for tickets, the outbox, inbound outcomes, event ids and knowledge gaps.

    Every method is a coroutine; datetimes in and out are timezone-aware UTC. A store opens
    its connection lazily on first use and must be closed with `close()` (or `async with`).
    """

    backend: str = "abstract"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def migrate(self) -> int:
        """Create or upgrade the schema; idempotent. Returns the schema version."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreError unless the database answers."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; the store may not be used afterwards."""

    # tickets
    @abc.abstractmethod
    async def create_ticket(self, t: NewTicket) -> tuple[Ticket, bool]:
        """Store `t` once per source_message_id; returns (ticket, created_now)."""

    @abc.abstractmethod
    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        """Return the ticket with this id, or None."""

    @abc.abstractmethod
    async def list_tickets(
        self, *, open_only: bool = False, overdue_on: date | None = None
    ) -> list[Ticket]:
        """Tickets oldest first; `overdue_on` keeps open ones whose deadline is before it."""

    @abc.abstractmethod
    async def set_status(self, ticket_id: str, status: str, *, actor: str, note: str) -> Ticket:
        """Change a ticket's status and record it; raises NotFound for an unknown id."""

    @abc.abstractmethod
    async def extend_ticket(
        self, ticket_id: str, new_due: date, *, actor: str, reason: str
    ) -> Ticket:
        """Set the extended deadline (status `extended`); new_due must be after due_date."""

    # outbox
    @abc.abstractmethod
    async def enqueue_mail(
        self,
        *,
        message: bytes,
        recipients: tuple[str, ...],
        purpose: str,
        next_attempt_at: datetime,
    ) -> int:
        """Queue an outbound message; returns its outbox id."""

    @abc.abstractmethod
    async def due_mail(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Unsent messages whose next attempt is due, earliest first."""

    @abc.abstractmethod
    async def mark_mail_sent(self, mail_id: int, at: datetime) -> None:
        """Record a delivery."""

    @abc.abstractmethod
    async def mark_mail_failed(self, mail_id: int, error: str, next_attempt_at: datetime) -> None:
        """Record a failed attempt (attempts + 1) and when to try again."""

    # inbound email, exactly once
    @abc.abstractmethod
    async def claim_inbound(self, key: str, worker: str, now: datetime, lease_seconds: int) -> bool:
        """Claim a message key unless it is done or held by a live lease of any worker."""

    @abc.abstractmethod
    async def finish_inbound(
        self, key: str, *, action: str, reason: str, ticket_id: str | None, now: datetime
    ) -> bool:
        """Record the one outcome of a message (the first finish wins; returns whether this
        call recorded it); later claims of the key return False."""

    @abc.abstractmethod
    async def inbound_outcome(self, key: str) -> dict[str, Any] | None:
        """{action, reason, ticket_id, finished_at} of a finished message, else None."""

    @abc.abstractmethod
    async def record_auto_reply(self, sender_key: str, at: datetime) -> None:
        """Log one auto-reply to a sender (for the per-sender rate limit)."""

    @abc.abstractmethod
    async def count_auto_replies(self, sender_key: str, since: datetime) -> int:
        """How many auto-replies went to this sender at or after `since`."""

    # events
    @abc.abstractmethod
    async def remember_event(self, event_id: str, at: datetime) -> bool:
        """True the first time an event id is seen, False on every repeat."""

    # knowledge gaps
    @abc.abstractmethod
    async def add_gap(self, *, text: str, lang: str, score: float, at: datetime) -> None:
        """Keep a declined or low-confidence question (text already masked by the caller)."""

    @abc.abstractmethod
    async def list_gaps(self, since: datetime) -> list[Gap]:
        """Gaps recorded at or after `since`, oldest first."""

    # retention
    @abc.abstractmethod
    async def purge(self, before: datetime) -> dict[str, int]:
        """Blank or delete personal data older than `before`; returns counts per table."""
