"""What the SQL backends share below the queries: connections, sessions and value encoding."""

import abc
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import fields
from datetime import date, datetime
from typing import Any, Protocol

from bot.clock import utcnow
from bot.store.base import Store

Row = dict[str, Any]

# how the record fields stored in a backend-specific form are named
_TIMESTAMPS = frozenset(
    {
        "received_at", "created_at", "closed_at", "at", "next_attempt_at", "sent_at",
        "finished_at", "claimed_at", "dead_at",
    }
)  # fmt: skip
_DAYS = frozenset({"due_date", "extended_due_date"})
_STRS = frozenset({"sections", "routes", "recipients"})
_BOOLS = frozenset({"identity_verified", "on_behalf_of_other"})


class Conn(Protocol):
    """One connection inside one transaction; SQL uses `?` placeholders."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute one statement; return how many rows it changed."""
        ...

    async def insert(self, sql: str, params: Sequence[Any], key: str) -> int | None:
        """Execute an INSERT; return the new row's `key` column, None if nothing was inserted."""
        ...


def placeholders(values: Collection[object]) -> str:
    """`?, ?, ?` for an IN list of `values` (at least one)."""
    if not values:
        raise ValueError("an IN list needs at least one value")
    return ", ".join("?" * len(values))


class SqlBase(Store):
    """Sessions and value encoding; SQLite keeps text, PostgreSQL native types."""

    # appended to a SELECT that claims rows: PostgreSQL's row locks; SQLite's write
    # transaction already keeps every other writer out
    skip_locked: str = ""

    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    @abc.abstractmethod
    def session(self, op: str, *, write: bool) -> AbstractAsyncContextManager[Conn]:
        """A connection in a transaction (committed on success); driver errors -> StoreError."""

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

    def encode(self, value: Any) -> Any:
        """A Python value as the backend stores it (by type: datetime, date, tuple)."""
        if isinstance(value, datetime):
            return self.ts(value)
        if isinstance(value, date):
            return self.day(value)
        if isinstance(value, tuple):
            return self.strs(value)
        return value

    def decode(self, name: str, value: Any) -> Any:
        """A stored column value as the record field `name` holds it."""
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

    def record(self, record_type: Any, row: Row, *skip: str) -> dict[str, Any]:
        """The decoded values of a row for the fields of a record dataclass."""
        names = (f.name for f in fields(record_type) if f.name not in skip)
        return {name: self.decode(name, row[name]) for name in names}
