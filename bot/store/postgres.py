"""PostgreSQL backend of the store (asyncpg pool), used when DATABASE_URL is set."""

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]

from bot.clock import utcnow
from bot.errors import StoreError
from bot.store import schema
from bot.store.base import require_utc
from bot.store.sql import Conn, Row, SqlStore

# Any 64-bit constant; taken for the duration of a migration transaction.
_MIGRATION_LOCK = 0x70726976616379  # "privacy"
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _dollar(sql: str) -> str:
    """Turn `?` placeholders into `$1, $2, ...` (the shared SQL has no `?` in literals)."""
    counter = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def _changed(status: str) -> int:
    """Rows changed, from a command status such as 'INSERT 0 1' or 'UPDATE 3'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class _PgConn:
    """The shared queries' view of an asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(_dollar(sql), *params)]

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _changed(await self._conn.execute(_dollar(sql), *params))

    async def insert(self, sql: str, params: Sequence[Any], key: str) -> int | None:
        value = await self._conn.fetchval(f"{_dollar(sql)} RETURNING {key}", *params)
        return None if value is None else int(value)


async def _abandon(conn: Any, tx: Any) -> None:
    """Roll back a failed or cancelled session before its connection goes back to the pool.
    A connection that cannot roll back cleanly (its BEGIN or COMMIT was cancelled half-way,
    it broke, or the task is cancelled again meanwhile) is terminated instead: the server
    then ends the transaction, and the pool never hands out a connection with one open."""
    try:
        await tx.rollback()
    except Exception:
        conn.terminate()
    except BaseException:
        conn.terminate()
        raise


class PostgresStore(SqlStore):
    """The production store: a PostgreSQL database reached through an asyncpg pool."""

    backend = "postgres"
    version_table = schema.POSTGRES_VERSION_TABLE
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 5,
        connect_timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(clock=clock)
        self.url = url
        self._pool_args = {"min_size": min_size, "max_size": max_size, "timeout": connect_timeout}
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def _get_pool(self) -> Any:
        async with self._lock:
            if self._closed:
                raise StoreError("the PostgreSQL store is closed")
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.url, **self._pool_args)
            return self._pool

    def session(self, op: str, *, write: bool) -> AbstractAsyncContextManager[Conn]:
        return self._session(op, write)

    @asynccontextmanager
    async def _session(self, op: str, write: bool) -> AsyncIterator[Conn]:
        isolation = "read_committed" if write else "repeatable_read"
        try:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                tx = conn.transaction(isolation=isolation, readonly=not write)
                try:
                    await tx.start()
                    yield _PgConn(conn)
                    await tx.commit()
                except BaseException:  # an error, or the task was cancelled (at any await)
                    await _abandon(conn, tx)
                    raise
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"PostgreSQL {op} failed on {redact(self.url)}: {exc}") from exc

    async def lock_migrations(self, conn: Conn) -> None:
        await conn.fetch("SELECT pg_advisory_xact_lock(?) AS locked", (_MIGRATION_LOCK,))

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def ts(self, value: datetime) -> datetime:
        return require_utc(value)

    def from_ts(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise StoreError(f"expected a timestamp from PostgreSQL, got {value!r}")
        return value.astimezone(UTC)

    def day(self, value: date) -> date:
        return value

    def from_day(self, value: Any) -> date:
        if not isinstance(value, date):
            raise StoreError(f"expected a date from PostgreSQL, got {value!r}")
        return value

    def strs(self, value: tuple[str, ...]) -> list[str]:
        return list(value)

    def from_strs(self, value: Any) -> tuple[str, ...]:
        return tuple(str(v) for v in value or ())
