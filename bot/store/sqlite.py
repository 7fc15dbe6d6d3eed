"""SQLite backend of the store: one file in WAL mode, one aiosqlite connection per store."""

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.clock import utcnow
from bot.errors import StoreError
from bot.store import schema
from bot.store.base import require_utc
from bot.store.sql import Conn, Row, SqlStore


class _SqliteConn:
    """The shared queries' view of an aiosqlite connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._conn.execute(sql, params) as cur:
            return max(cur.rowcount, 0)

    async def insert(self, sql: str, params: Sequence[Any], key: str) -> int | None:
        # `key` is the table's INTEGER PRIMARY KEY, i.e. SQLite's rowid.
        async with self._conn.execute(sql, params) as cur:
            return cur.lastrowid if cur.rowcount == 1 else None


class SqliteStore(SqlStore):
    """The default store: a local SQLite file, safe for several processes on one machine.

    Calls on one store are serialised by an asyncio lock; other processes and other store
    objects on the same file wait for SQLite's write lock (busy timeout), so every write
    transaction (`BEGIN IMMEDIATE`) sees the data committed before it.
    """

    backend = "sqlite"
    version_table = schema.SQLITE_VERSION_TABLE

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 30_000,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(clock=clock)
        self.path = path
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def _connect(self) -> aiosqlite.Connection:
        if self._closed:
            raise StoreError("the SQLite store is closed")
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            try:
                await conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                await conn.execute("PRAGMA foreign_keys = ON")
                # a file system without WAL support keeps its journal mode; that is fine
                await self._retry_busy(conn, "PRAGMA journal_mode = WAL")
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _retry_busy(self, conn: aiosqlite.Connection, sql: str) -> None:
        """Run a statement that has no effect when it fails, retrying while the file is busy.

        SQLite answers "database is locked" at once, without waiting for the busy timeout,
        in a few cases (switching to WAL, or starting a transaction while another connection
        is creating or recovering the file); BEGIN and the WAL switch are safe to repeat.
        """
        deadline = asyncio.get_running_loop().time() + self._busy_timeout_ms / 1000
        while True:
            try:
                await conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.005)

    def session(self, op: str, *, write: bool) -> AbstractAsyncContextManager[Conn]:
        return self._session(op, "BEGIN IMMEDIATE" if write else "BEGIN")

    @asynccontextmanager
    async def _session(self, op: str, begin: str) -> AsyncIterator[Conn]:
        async with self._lock:
            try:
                conn = await self._connect()
                try:
                    await self._retry_busy(conn, begin)
                    yield _SqliteConn(conn)
                    await conn.execute("COMMIT")
                except BaseException:  # an error, or the task was cancelled (at any await)
                    await self._abandon(conn)
                    raise
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"SQLite {op} failed on {self.path}: {exc}") from exc

    async def _abandon(self, conn: aiosqlite.Connection) -> None:
        """End the transaction a failed or cancelled session may hold, so that no write lock
        is left behind. A cancelled `await` does not stop aiosqlite's thread: the BEGIN or
        statement it waited for still runs, and this ROLLBACK runs after it (one queue). A
        connection that cannot roll back is closed, which ends its transaction as well."""
        try:
            await conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "no transaction is active" not in str(exc):
                await self._discard(conn)
        except (sqlite3.Error, ValueError):  # ValueError: the connection is closed already
            await self._discard(conn)

    async def _discard(self, conn: aiosqlite.Connection) -> None:
        """Close a connection in an unknown state; the next session opens a new one."""
        if self._conn is conn:
            self._conn = None
        with contextlib.suppress(sqlite3.Error, ValueError):
            await conn.close()

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    # Datetimes are fixed-width ISO 8601 UTC text (text order is time order), dates are
    # YYYY-MM-DD and string tuples JSON arrays.
    def ts(self, value: datetime) -> str:
        return require_utc(value).isoformat(timespec="microseconds")

    def from_ts(self, value: Any) -> datetime:
        return datetime.fromisoformat(str(value)).astimezone(UTC)

    def day(self, value: date) -> str:
        return value.isoformat()

    def from_day(self, value: Any) -> date:
        return date.fromisoformat(str(value))

    def strs(self, value: tuple[str, ...]) -> str:
        return json.dumps(list(value), ensure_ascii=False)

    def from_strs(self, value: Any) -> tuple[str, ...]:
        return tuple(str(v) for v in json.loads(value))
