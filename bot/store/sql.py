"""The store's queries, written once in the SQL both SQLite and PostgreSQL understand."""

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from bot.errors import NotFound, StoreError
from bot.store import schema
from bot.store.base import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Gap,
    HistoryEntry,
    NewTicket,
    OutboxItem,
    Store,
    Ticket,
    check_new_ticket,
    check_status,
    hash_key,
    require_utc,
    ticket_id,
)

Row = dict[str, Any]

_OPEN = "status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"
_NEW_FIELDS = tuple(f.name for f in fields(NewTicket))
_TICKET_INSERT = (
    f"INSERT INTO tickets ({', '.join(_NEW_FIELDS)}, status, created_at) "
    f"VALUES ({', '.join('?' * (len(_NEW_FIELDS) + 2))}) "
    "ON CONFLICT (source_message_id) DO NOTHING"
)
# how the record fields stored in a backend-specific form are named
_TIMESTAMPS = frozenset(
    {"received_at", "created_at", "closed_at", "at", "next_attempt_at", "sent_at", "finished_at"}
)
_DAYS = frozenset({"due_date", "extended_due_date"})
_STRS = frozenset({"sections", "routes", "recipients"})
_BOOLS = frozenset({"identity_verified", "on_behalf_of_other"})
_HISTORY_INSERT = (
    "INSERT INTO ticket_history (ticket_id, at, actor, action, from_status, to_status, note) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_CLAIM = (
    "INSERT INTO inbound (key_hash, worker, claimed_at, lease_until) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key_hash) DO UPDATE SET worker = excluded.worker, "
    "claimed_at = excluded.claimed_at, lease_until = excluded.lease_until "
    "WHERE inbound.finished_at IS NULL AND inbound.lease_until <= excluded.claimed_at"
)
_FINISH = (
    "INSERT INTO inbound (key_hash, finished_at, action, reason, ticket_id) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO UPDATE SET "
    "finished_at = excluded.finished_at, action = excluded.action, reason = excluded.reason, "
    "ticket_id = excluded.ticket_id, lease_until = NULL WHERE inbound.finished_at IS NULL"
)
# A ticket's text is kept while it is open (the team still works on it), and purged once it has
# been closed for the retention period; its metadata and history stay as the legal record.
_PURGEABLE = "closed_at IS NOT NULL AND closed_at < ? AND (original_text <> '' OR subject IS NOT NULL)"
_PURGES = (
    ("tickets", f"UPDATE tickets SET original_text = '', subject = NULL WHERE {_PURGEABLE}"),
    ("outbox", "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?"),
    ("gaps", "DELETE FROM gaps WHERE at < ?"),
    (
        "inbound",
        "UPDATE inbound SET reason = NULL, worker = NULL WHERE finished_at < ? "
        "AND (reason IS NOT NULL OR worker IS NOT NULL)",
    ),
    ("auto_replies", "DELETE FROM auto_replies WHERE at < ?"),
    ("events", "DELETE FROM events WHERE at < ?"),
)


class Conn(Protocol):
    """One connection inside one transaction; SQL uses `?` placeholders."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute one statement; return how many rows it changed."""
        ...

    async def insert(self, sql: str, params: Sequence[Any], key: str) -> int | None:
        """Execute an INSERT; return the new row's `key` column, None if nothing was inserted."""
        ...


def utcnow() -> datetime:
    """The default clock of a store."""
    return datetime.now(UTC)


class SqlStore(Store):
    """Everything but connections and value encoding, shared by the SQLite and PG backends."""

    version_table: str = ""

    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    @abc.abstractmethod
    def session(self, op: str, *, write: bool) -> AbstractAsyncContextManager[Conn]:
        """A connection in a transaction (committed on success); driver errors -> StoreError."""

    async def lock_migrations(self, conn: Conn) -> None:
        """Keep two processes from migrating at once (SQLite's write lock already does)."""

    # value encoding: SQLite keeps text, PostgreSQL native types
    @abc.abstractmethod
    def ts(self, value: datetime) -> Any: ...

    @abc.abstractmethod
    def from_ts(self, value: Any) -> datetime: ...

    @abc.abstractmethod
    def day(self, value: date) -> Any: ...

    @abc.abstractmethod
    def from_day(self, value: Any) -> date: ...

    @abc.abstractmethod
    def strs(self, value: tuple[str, ...]) -> Any: ...

    @abc.abstractmethod
    def from_strs(self, value: Any) -> tuple[str, ...]: ...

    async def migrate(self) -> int:
        async with self.session("migrate", write=True) as conn:
            await self.lock_migrations(conn)
            await conn.run(self.version_table)
            rows = await conn.fetch("SELECT MAX(version) AS v FROM schema_version")
            for version, sql in schema.pending(int(rows[0]["v"] or 0), self.backend):
                for statement in schema.statements(sql):
                    await conn.run(statement)
                await conn.run(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, self.ts(self._clock())),
                )
        return schema.LATEST_VERSION

    async def ping(self) -> None:
        async with self.session("ping", write=False) as conn:
            await conn.fetch("SELECT 1 AS one")

    # tickets

    def encode(self, value: Any) -> Any:
        """A Python value as the backend stores it (by type: datetime, date, tuple)."""
        if isinstance(value, datetime):
            return self.ts(value)
        if isinstance(value, date):
            return self.day(value)
        if isinstance(value, tuple):
            return self.strs(value)
        return value

    def _decode(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in _TIMESTAMPS:
            return self.from_ts(value)
        if name in _DAYS:
            return self.from_day(value)
        if name in _STRS:
            return self.from_strs(value)
        if name == "message":
            return bytes(value)
        if name == "score":
            return float(value)
        return bool(value) if name in _BOOLS else value

    def _fields(self, record_type: Any, row: Row, *skip: str) -> dict[str, Any]:
        """The decoded values of a row for the fields of a record dataclass."""
        names = (f.name for f in fields(record_type) if f.name not in skip)
        return {name: self._decode(name, row[name]) for name in names}

    async def _load(self, conn: Conn, where: str, params: Sequence[Any] = ()) -> list[Ticket]:
        rows = await conn.fetch(f"SELECT * FROM tickets WHERE {where} ORDER BY seq", params)
        history: dict[str, list[HistoryEntry]] = {}
        for h in await conn.fetch(
            "SELECT * FROM ticket_history WHERE ticket_id IN "
            f"(SELECT id FROM tickets WHERE {where}) ORDER BY seq",
            params,
        ):
            entry = HistoryEntry(**self._fields(HistoryEntry, h))
            history.setdefault(h["ticket_id"], []).append(entry)
        return [
            Ticket(**self._fields(Ticket, r, "history"), history=tuple(history.get(r["id"], ())))
            for r in rows
        ]

    async def _one(self, conn: Conn, tid: str) -> Ticket:
        found = await self._load(conn, "id = ?", (tid,))
        if not found:
            raise NotFound(f"no ticket {tid}")
        return found[0]

    async def create_ticket(self, t: NewTicket) -> tuple[Ticket, bool]:
        check_new_ticket(t)
        now = self.ts(self._clock())
        values = [self.encode(getattr(t, name)) for name in _NEW_FIELDS] + ["open", now]
        async with self.session("create_ticket", write=True) as conn:
            mine = "source_message_id = ?", (t.source_message_id,)
            existing = await self._load(conn, *mine)
            if existing:
                return existing[0], False
            seq = await conn.insert(_TICKET_INSERT, values, "seq")
            if seq is None:  # a concurrent transaction inserted it first and has committed
                existing = await self._load(conn, *mine)
                if not existing:
                    raise StoreError(f"ticket for {t.source_message_id!r} vanished")
                return existing[0], False
            tid = ticket_id(require_utc(t.received_at).year, seq)
            await conn.run("UPDATE tickets SET id = ? WHERE seq = ?", (tid, seq))
            note = f"received via {t.channel}"
            await conn.run(_HISTORY_INSERT, (tid, now, "privacybot", "created", None, "open", note))
            return await self._one(conn, tid), True

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        async with self.session("get_ticket", write=False) as conn:
            found = await self._load(conn, "id = ?", (ticket_id,))
        return found[0] if found else None

    async def list_tickets(
        self, *, open_only: bool = False, overdue_on: date | None = None
    ) -> list[Ticket]:
        where, params = "id IS NOT NULL", []
        if open_only or overdue_on is not None:
            where = _OPEN
        if overdue_on is not None:
            where += " AND COALESCE(extended_due_date, due_date) < ?"
            params.append(self.day(overdue_on))
        async with self.session("list_tickets", write=False) as conn:
            return await self._load(conn, where, params)

    async def _change(
        self,
        tid: str,
        op: str,
        status: str,
        actor: str,
        action: str,
        note: str,
        new_due: date | None = None,
    ) -> Ticket:
        now = self._clock()
        closed_at = self.ts(now) if status in CLOSED_STATUSES else None
        async with self.session(op, write=True) as conn:
            old = await self._one(conn, tid)
            if new_due is not None:
                if new_due <= old.due_date:
                    raise ValueError(f"new due date {new_due} is not after {old.due_date}")
                note = f"{note} (due {old.effective_due_date} -> {new_due})"
                await conn.run(
                    "UPDATE tickets SET extended_due_date = ? WHERE id = ?",
                    (self.day(new_due), tid),
                )
            await conn.run(
                "UPDATE tickets SET status = ?, closed_at = ? WHERE id = ?",
                (status, closed_at, tid),
            )
            await conn.run(
                _HISTORY_INSERT, (tid, self.ts(now), actor, action, old.status, status, note)
            )
            return await self._one(conn, tid)

    async def set_status(self, ticket_id: str, status: str, *, actor: str, note: str) -> Ticket:
        check_status(status)
        return await self._change(ticket_id, "set_status", status, actor, "status", note)

    async def extend_ticket(
        self, ticket_id: str, new_due: date, *, actor: str, reason: str
    ) -> Ticket:
        return await self._change(
            ticket_id, "extend_ticket", "extended", actor, "extended", reason, new_due
        )

    # outbox

    async def enqueue_mail(
        self,
        *,
        message: bytes,
        recipients: tuple[str, ...],
        purpose: str,
        next_attempt_at: datetime,
    ) -> int:
        values = [
            self.encode(v)
            for v in (bytes(message), recipients, purpose, next_attempt_at, self._clock())
        ]
        async with self.session("enqueue_mail", write=True) as conn:
            new_id = await conn.insert(
                "INSERT INTO outbox (message, recipients, purpose, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
                "id",
            )
        if new_id is None:
            raise StoreError("outbox insert returned no id")
        return new_id

    async def due_mail(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        async with self.session("due_mail", write=False) as conn:
            rows = await conn.fetch(
                "SELECT * FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, id LIMIT ?",
                (self.ts(now), limit),
            )
        return [OutboxItem(**self._fields(OutboxItem, r)) for r in rows]

    async def _update_mail(self, mail_id: int, op: str, sql: str, params: Sequence[Any]) -> None:
        async with self.session(op, write=True) as conn:
            if await conn.run(sql, (*params, mail_id)) != 1:
                raise NotFound(f"no outbox message {mail_id}")

    async def mark_mail_sent(self, mail_id: int, at: datetime) -> None:
        sql = "UPDATE outbox SET sent_at = ? WHERE id = ?"
        await self._update_mail(mail_id, "mark_mail_sent", sql, (self.ts(at),))

    async def mark_mail_failed(self, mail_id: int, error: str, next_attempt_at: datetime) -> None:
        sql = (
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
            "WHERE id = ?"
        )
        await self._update_mail(mail_id, "mark_mail_failed", sql, (error, self.ts(next_attempt_at)))

    # inbound email

    async def claim_inbound(self, key: str, worker: str, now: datetime, lease_seconds: int) -> bool:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        start = require_utc(now)
        until = start + timedelta(seconds=lease_seconds)
        params = (hash_key(key), worker, self.ts(start), self.ts(until))
        async with self.session("claim_inbound", write=True) as conn:
            return await conn.run(_CLAIM, params) == 1

    async def finish_inbound(
        self, key: str, *, action: str, reason: str, ticket_id: str | None, now: datetime
    ) -> bool:
        params = (hash_key(key), self.ts(now), action, reason, ticket_id)
        async with self.session("finish_inbound", write=True) as conn:
            return await conn.run(_FINISH, params) == 1

    async def inbound_outcome(self, key: str) -> dict[str, Any] | None:
        async with self.session("inbound_outcome", write=False) as conn:
            rows = await conn.fetch(
                "SELECT action, reason, ticket_id, finished_at FROM inbound "
                "WHERE key_hash = ? AND finished_at IS NOT NULL",
                (hash_key(key),),
            )
        if not rows:
            return None
        return {name: self._decode(name, value) for name, value in rows[0].items()}

    async def record_auto_reply(self, sender_key: str, at: datetime) -> None:
        async with self.session("record_auto_reply", write=True) as conn:
            await conn.run(
                "INSERT INTO auto_replies (sender_hash, at) VALUES (?, ?)",
                (hash_key(sender_key), self.ts(at)),
            )

    async def count_auto_replies(self, sender_key: str, since: datetime) -> int:
        async with self.session("count_auto_replies", write=False) as conn:
            rows = await conn.fetch(
                "SELECT COUNT(*) AS n FROM auto_replies WHERE sender_hash = ? AND at >= ?",
                (hash_key(sender_key), self.ts(since)),
            )
        return int(rows[0]["n"])

    # events, gaps, retention

    async def remember_event(self, event_id: str, at: datetime) -> bool:
        async with self.session("remember_event", write=True) as conn:
            sql = "INSERT INTO events (event_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING"
            return await conn.run(sql, (event_id, self.ts(at))) == 1

    async def add_gap(self, *, text: str, lang: str, score: float, at: datetime) -> None:
        async with self.session("add_gap", write=True) as conn:
            await conn.run(
                "INSERT INTO gaps (text, lang, score, at) VALUES (?, ?, ?, ?)",
                (text, lang, float(score), self.ts(at)),
            )

    async def list_gaps(self, since: datetime) -> list[Gap]:
        async with self.session("list_gaps", write=False) as conn:
            rows = await conn.fetch(
                "SELECT * FROM gaps WHERE at >= ? ORDER BY at, id", (self.ts(since),)
            )
        return [Gap(**self._fields(Gap, r)) for r in rows]

    async def purge(self, before: datetime) -> dict[str, int]:
        cut, now = self.ts(before), self.ts(self._clock())
        note = "original text and subject removed after the retention period"
        counts: dict[str, int] = {}
        async with self.session("purge", write=True) as conn:
            for r in await conn.fetch(
                f"SELECT id, status FROM tickets WHERE {_PURGEABLE} ORDER BY seq", (cut,)
            ):
                await conn.run(
                    _HISTORY_INSERT,
                    (r["id"], now, "retention", "purged", r["status"], r["status"], note),
                )
            for name, sql in _PURGES:
                counts[name] = await conn.run(sql, (cut,))
        return counts
