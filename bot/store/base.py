"""The store interface every backend implements (the records live in bot.store.records)."""

import abc
from collections.abc import Collection, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

from bot.store.records import (
    CHANNELS,
    CLOSED_STATUSES,
    KINDS,
    LANGS,
    OPEN_STATUSES,
    STATUSES,
    Gap,
    HistoryEntry,
    MailFactory,
    NewTicket,
    OutboxItem,
    Outgoing,
    Ticket,
    check_lease,
    check_new_ticket,
    check_status,
    hash_key,
    require_utc,
    ticket_id,
)

__all__ = [
    "CHANNELS",
    "CLOSED_STATUSES",
    "KINDS",
    "LANGS",
    "OPEN_STATUSES",
    "STATUSES",
    "Gap",
    "HistoryEntry",
    "MailFactory",
    "NewTicket",
    "OutboxItem",
    "Outgoing",
    "Store",
    "Ticket",
    "check_lease",
    "check_new_ticket",
    "check_status",
    "hash_key",
    "require_utc",
    "ticket_id",
]


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
    async def create_ticket(
        self,
        t: NewTicket,
        *,
        status: str = "open",
        note: str | None = None,
        outbox: MailFactory | None = None,
    ) -> tuple[Ticket, bool]:
        """Store `t` once per source_message_id; returns (ticket, created_now).

        In the same transaction the ticket gets its initial open `status` (history `note`)
        and the messages `outbox(ticket)` returns are queued, linked to it: either all of it
        is stored or none. An existing ticket is returned as it is and `outbox` is not called.
        """

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
        self,
        ticket_id: str,
        new_due: date,
        *,
        actor: str,
        reason: str,
        outbox: MailFactory | None = None,
    ) -> Ticket:
        """Set the extended deadline (status `extended`); new_due must be after due_date.
        The messages `outbox(extended ticket)` returns are queued in the same transaction."""

    @abc.abstractmethod
    async def verify_identity(self, ticket_id: str, *, actor: str, note: str) -> Ticket:
        """Record that the requester's identity is confirmed (awaiting_identity -> open)."""

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
    async def claim_mail(
        self,
        now: datetime,
        limit: int,
        lease_seconds: int,
        worker: str,
        *,
        ids: Collection[int] | None = None,
    ) -> list[OutboxItem]:
        """Atomically take up to `limit` due messages (only `ids`, when given) for `worker`:
        each is pushed `lease_seconds` into the future, so no other worker takes it until it
        is marked sent, failed or dead, released, or the lease runs out. Oldest id first."""

    @abc.abstractmethod
    async def release_mail(self, mail_ids: Collection[int], next_attempt_at: datetime) -> None:
        """Give back claimed messages that were not tried, due again at `next_attempt_at`."""

    @abc.abstractmethod
    async def mark_mail_sent(self, mail_id: int, at: datetime) -> None:
        """Record a delivery."""

    @abc.abstractmethod
    async def mark_mail_failed(self, mail_id: int, error: str, next_attempt_at: datetime) -> None:
        """Record a failed attempt (attempts + 1) and when to try again; ends a claim."""

    @abc.abstractmethod
    async def mark_mail_dead(self, mail_id: int, error: str, at: datetime) -> None:
        """Record a last failed attempt (attempts + 1): the message is kept but not retried."""

    @abc.abstractmethod
    async def retry_mail(self, mail_id: int, now: datetime) -> OutboxItem:
        """Queue an unsent message (typically a dead one) again, due `now`, attempts reset.

        NotFound for an unknown id; StoreError when it was sent or a worker holds it now."""

    @abc.abstractmethod
    async def list_mail(
        self, *, ticket_id: str | None = None, include_sent: bool = False
    ) -> list[OutboxItem]:
        """Outbox messages by id (of one ticket, when given); unsent ones unless include_sent."""

    # inbound email, exactly once
    @abc.abstractmethod
    async def claim_inbound(self, key: str, worker: str, now: datetime, lease_seconds: int) -> bool:
        """Claim a message key unless it is done or held by a live lease of any worker."""

    @abc.abstractmethod
    async def finish_inbound(
        self,
        key: str,
        *,
        action: str,
        reason: str,
        ticket_id: str | None,
        now: datetime,
        outbox: Sequence[Outgoing] = (),
    ) -> tuple[bool, tuple[int, ...]]:
        """Record the one outcome of a message and queue its `outbox` mail (e.g. the reply) in
        the same transaction: both or neither. The first finish wins; a later one records and
        queues nothing. Returns (whether this call recorded it, the outbox ids it queued);
        later claims of the key return False."""

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
