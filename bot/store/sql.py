"""The store's ticket, inbound, event, gap and retention queries, in SQL both backends speak."""

from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import Any

from bot.errors import NotFound, StoreError
from bot.store import schema
from bot.store.base import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Gap,
    HistoryEntry,
    MailFactory,
    NewTicket,
    Outgoing,
    Ticket,
    check_lease,
    check_new_ticket,
    check_status,
    hash_key,
    require_utc,
    ticket_id,
)
from bot.store.outbox import OutboxSql
from bot.store.sqlbase import Conn, Row

__all__ = ["Conn", "Row", "SqlStore"]


_OPEN = "status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"
_NEW_FIELDS = tuple(f.name for f in fields(NewTicket))
_TICKET_INSERT = (
    f"INSERT INTO tickets ({', '.join(_NEW_FIELDS)}, status, created_at) "
    f"VALUES ({', '.join('?' * (len(_NEW_FIELDS) + 2))}) "
    "ON CONFLICT (source_message_id) DO NOTHING"
)
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
_PURGEABLE = (
    "closed_at IS NOT NULL AND closed_at < ? AND (original_text <> '' OR subject IS NOT NULL)"
)
_PURGES = (
    ("tickets", f"UPDATE tickets SET original_text = '', subject = NULL WHERE {_PURGEABLE}"),
    ("outbox", "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?"),
    # A dead message keeps its row (id, purpose, attempts, error) for the record, not its bytes.
    (
        "dead_mail",
        "UPDATE outbox SET message = substr(message, 1, 0) "
        "WHERE dead_at IS NOT NULL AND dead_at < ? AND length(message) > 0",
    ),
    ("gaps", "DELETE FROM gaps WHERE at < ?"),
    (
        "inbound",
        "UPDATE inbound SET reason = NULL, worker = NULL WHERE finished_at < ? "
        "AND (reason IS NOT NULL OR worker IS NOT NULL)",
    ),
    ("auto_replies", "DELETE FROM auto_replies WHERE at < ?"),
    ("events", "DELETE FROM events WHERE at < ?"),
)


class SqlStore(OutboxSql):
    """Everything but connections and value encoding, shared by the SQLite and PG backends."""

    version_table: str = ""

    async def lock_migrations(self, conn: Conn) -> None:
        """Keep two processes from migrating at once (SQLite's write lock already does)."""

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

    async def _load(self, conn: Conn, where: str, params: Sequence[Any] = ()) -> list[Ticket]:
        rows = await conn.fetch(f"SELECT * FROM tickets WHERE {where} ORDER BY seq", params)
        history: dict[str, list[HistoryEntry]] = {}
        for h in await conn.fetch(
            "SELECT * FROM ticket_history WHERE ticket_id IN "
            f"(SELECT id FROM tickets WHERE {where}) ORDER BY seq",
            params,
        ):
            entry = HistoryEntry(**self.record(HistoryEntry, h))
            history.setdefault(h["ticket_id"], []).append(entry)
        return [
            Ticket(**self.record(Ticket, r, "history"), history=tuple(history.get(r["id"], ())))
            for r in rows
        ]

    async def _one(self, conn: Conn, tid: str) -> Ticket:
        found = await self._load(conn, "id = ?", (tid,))
        if not found:
            raise NotFound(f"no ticket {tid}")
        return found[0]

    async def create_ticket(
        self,
        t: NewTicket,
        *,
        status: str = "open",
        note: str | None = None,
        outbox: MailFactory | None = None,
    ) -> tuple[Ticket, bool]:
        check_new_ticket(t)
        if status not in OPEN_STATUSES:
            raise ValueError(f"a ticket starts open, not {status!r}")
        now = self.ts(self._clock())
        values = [self.encode(getattr(t, name)) for name in _NEW_FIELDS] + [status, now]
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
            note = note or f"received via {t.channel}"
            await conn.run(_HISTORY_INSERT, (tid, now, "privacybot", "created", None, status, note))
            ticket = await self._one(conn, tid)
            if outbox is not None:
                await self.queue(conn, outbox(ticket), tid)
            return ticket, True

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
        actor: str,
        action: str,
        note: str,
        *,
        status: str | None = None,
        new_due: date | None = None,
        verify: bool = False,
        outbox: MailFactory | None = None,
    ) -> Ticket:
        """One recorded change: status (None keeps it; a verified identity ends
        awaiting_identity), deadline, identity, and the mail about it, in one transaction."""
        now = self._clock()
        async with self.session(op, write=True) as conn:
            old = await self._one(conn, tid)
            if status is None:
                status = "open" if verify and old.status == "awaiting_identity" else old.status
            if new_due is not None:
                if new_due <= old.due_date:
                    raise ValueError(f"new due date {new_due} is not after {old.due_date}")
                if old.extended_due_date is not None:  # two extends at once: the first wins
                    raise ValueError(f"{tid} was already extended to {old.extended_due_date}")
                note = f"{note} (due {old.effective_due_date} -> {new_due})"
                await conn.run(
                    "UPDATE tickets SET extended_due_date = ? WHERE id = ?",
                    (self.day(new_due), tid),
                )
            if verify:
                await conn.run("UPDATE tickets SET identity_verified = ? WHERE id = ?", (True, tid))
            closed_at = self.ts(now) if status in CLOSED_STATUSES else None
            await conn.run(
                "UPDATE tickets SET status = ?, closed_at = ? WHERE id = ?",
                (status, closed_at, tid),
            )
            await conn.run(
                _HISTORY_INSERT, (tid, self.ts(now), actor, action, old.status, status, note)
            )
            ticket = await self._one(conn, tid)
            if outbox is not None:
                await self.queue(conn, outbox(ticket), tid)
            return ticket

    async def set_status(self, ticket_id: str, status: str, *, actor: str, note: str) -> Ticket:
        check_status(status)
        return await self._change(ticket_id, "set_status", actor, "status", note, status=status)

    async def extend_ticket(
        self,
        ticket_id: str,
        new_due: date,
        *,
        actor: str,
        reason: str,
        outbox: MailFactory | None = None,
    ) -> Ticket:
        return await self._change(
            ticket_id, "extend_ticket", actor, "extended", reason,
            status="extended", new_due=new_due, outbox=outbox,
        )  # fmt: skip

    async def verify_identity(self, ticket_id: str, *, actor: str, note: str) -> Ticket:
        return await self._change(
            ticket_id, "verify_identity", actor, "identity_verified", note, verify=True
        )

    # inbound email

    async def claim_inbound(self, key: str, worker: str, now: datetime, lease_seconds: int) -> bool:
        check_lease(lease_seconds)
        start = require_utc(now)
        until = start + timedelta(seconds=lease_seconds)
        params = (hash_key(key), worker, self.ts(start), self.ts(until))
        async with self.session("claim_inbound", write=True) as conn:
            return await conn.run(_CLAIM, params) == 1

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
        params = (hash_key(key), self.ts(now), action, reason, ticket_id)
        async with self.session("finish_inbound", write=True) as conn:
            if await conn.run(_FINISH, params) != 1:
                return False, ()  # finished before (by another worker): nothing is queued
            return True, await self.queue(conn, outbox, ticket_id)

    async def inbound_outcome(self, key: str) -> dict[str, Any] | None:
        async with self.session("inbound_outcome", write=False) as conn:
            rows = await conn.fetch(
                "SELECT action, reason, ticket_id, finished_at FROM inbound "
                "WHERE key_hash = ? AND finished_at IS NOT NULL",
                (hash_key(key),),
            )
        if not rows:
            return None
        return {name: self.decode(name, value) for name, value in rows[0].items()}

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
        return [Gap(**self.record(Gap, r)) for r in rows]

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
