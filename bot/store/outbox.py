"""The outbox queries: queue, claim with a lease, mark sent, failed or dead, retry, list."""

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from bot.errors import NotFound, StoreError
from bot.store.base import OutboxItem, Outgoing, check_lease, require_utc
from bot.store.sqlbase import Conn, SqlBase, placeholders

_LIVE: Final = "sent_at IS NULL AND dead_at IS NULL"
_INSERT: Final = (
    "INSERT INTO outbox (message, recipients, purpose, next_attempt_at, created_at, ticket_id) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# A claim pushes the message's next attempt past the lease; a claimer that dies simply lets
# the lease run out. PostgreSQL skips rows another claimer holds (FOR UPDATE SKIP LOCKED).
_CLAIM: Final = (
    "UPDATE outbox SET next_attempt_at = ?, claimed_by = ?, claimed_at = ? WHERE id IN "
    f"(SELECT id FROM outbox WHERE {_LIVE} AND next_attempt_at <= ?{{only}} "
    "ORDER BY next_attempt_at, id LIMIT ?{lock}) RETURNING *"
)


class OutboxSql(SqlBase):
    """The outbox half of the SQL store, shared by SQLite and PostgreSQL."""

    def item(self, row: dict[str, Any]) -> OutboxItem:
        """An outbox row as a record."""
        return OutboxItem(**self.record(OutboxItem, row))

    async def queue(
        self, conn: Conn, mails: Iterable[Outgoing], ticket_id: str | None
    ) -> tuple[int, ...]:
        """Insert `mails` in the caller's transaction, each due at its `not_before`; their ids."""
        created = self.ts(self._clock())
        ids: list[int] = []
        for m in mails:
            if not m.recipients:
                raise ValueError("an outgoing message needs at least one recipient")
            values = (bytes(m.message), self.strs(tuple(m.recipients)), m.purpose,
                      self.ts(m.not_before), created, ticket_id)  # fmt: skip
            new_id = await conn.insert(_INSERT, values, "id")
            if new_id is None:
                raise StoreError("outbox insert returned no id")
            ids.append(new_id)
        return tuple(ids)

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
            for v in (bytes(message), recipients, purpose, next_attempt_at, self._clock(), None)
        ]
        async with self.session("enqueue_mail", write=True) as conn:
            new_id = await conn.insert(_INSERT, values, "id")
        if new_id is None:
            raise StoreError("outbox insert returned no id")
        return new_id

    async def claim_mail(
        self,
        now: datetime,
        limit: int,
        lease_seconds: int,
        worker: str,
        *,
        ids: Collection[int] | None = None,
    ) -> list[OutboxItem]:
        check_lease(lease_seconds)
        if limit <= 0 or (ids is not None and not ids):
            return []
        start = require_utc(now)
        only = "" if ids is None else f" AND id IN ({placeholders(ids)})"
        sql = _CLAIM.format(only=only, lock=self.skip_locked)
        params = [self.ts(start + timedelta(seconds=lease_seconds)), worker, self.ts(start)]
        params += [self.ts(start), *(ids or ()), limit]
        async with self.session("claim_mail", write=True) as conn:
            rows = await conn.fetch(sql, params)
        return sorted((self.item(r) for r in rows), key=lambda i: i.id)

    async def release_mail(self, mail_ids: Collection[int], next_attempt_at: datetime) -> None:
        if not mail_ids:
            return
        async with self.session("release_mail", write=True) as conn:
            await conn.run(
                f"UPDATE outbox SET next_attempt_at = ?, claimed_by = NULL "
                f"WHERE {_LIVE} AND id IN ({placeholders(mail_ids)})",
                (self.ts(next_attempt_at), *mail_ids),
            )

    async def _update_mail(self, mail_id: int, op: str, sql: str, params: Sequence[Any]) -> None:
        async with self.session(op, write=True) as conn:
            if await conn.run(sql, (*params, mail_id)) != 1:
                raise NotFound(f"no outbox message {mail_id}")

    async def mark_mail_sent(self, mail_id: int, at: datetime) -> None:
        sql = "UPDATE outbox SET sent_at = ? WHERE id = ?"
        await self._update_mail(mail_id, "mark_mail_sent", sql, (self.ts(at),))

    async def mark_mail_failed(self, mail_id: int, error: str, next_attempt_at: datetime) -> None:
        sql = (
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
            "claimed_by = NULL WHERE id = ?"
        )
        await self._update_mail(mail_id, "mark_mail_failed", sql, (error, self.ts(next_attempt_at)))

    async def mark_mail_dead(self, mail_id: int, error: str, at: datetime) -> None:
        sql = (
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, dead_at = ?, "
            "claimed_by = NULL WHERE id = ?"
        )
        await self._update_mail(mail_id, "mark_mail_dead", sql, (error, self.ts(at)))

    async def retry_mail(self, mail_id: int, now: datetime) -> OutboxItem:
        at = self.ts(require_utc(now))
        async with self.session("retry_mail", write=True) as conn:
            rows = await conn.fetch("SELECT * FROM outbox WHERE id = ?", (mail_id,))
            if not rows:
                raise NotFound(f"no outbox message {mail_id}")
            old = self.item(rows[0])
            if old.sent_at is not None:
                raise StoreError(f"outbox message {mail_id} was already sent; nothing to retry")
            if not old.message:
                raise StoreError(f"outbox message {mail_id} was purged after the retention "
                                 "period; nothing to retry")  # fmt: skip
            if old.dead_at is None and old.claimed_by and old.next_attempt_at > require_utc(now):
                raise StoreError(f"outbox message {mail_id} is being sent by {old.claimed_by}")
            await conn.run(
                "UPDATE outbox SET dead_at = NULL, attempts = 0, next_attempt_at = ?, "
                "claimed_by = NULL WHERE id = ?",
                (at, mail_id),
            )
            rows = await conn.fetch("SELECT * FROM outbox WHERE id = ?", (mail_id,))
        return self.item(rows[0])

    async def list_mail(
        self, *, ticket_id: str | None = None, include_sent: bool = False
    ) -> list[OutboxItem]:
        where, params = ["1 = 1"], []
        if ticket_id is not None:
            where.append("ticket_id = ?")
            params.append(ticket_id)
        if not include_sent:
            where.append("sent_at IS NULL")
        async with self.session("list_mail", write=False) as conn:
            rows = await conn.fetch(
                f"SELECT * FROM outbox WHERE {' AND '.join(where)} ORDER BY id", params
            )
        return [self.item(r) for r in rows]
