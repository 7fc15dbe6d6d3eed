"""The ticket store: `open_store()` picks SQLite or PostgreSQL from the configuration."""

from pathlib import Path
from urllib.parse import urlsplit

from bot.errors import ConfigError
from bot.store.base import (
    Gap,
    HistoryEntry,
    MailFactory,
    NewTicket,
    OutboxItem,
    Outgoing,
    Store,
    Ticket,
)
from bot.store.sqlite import SqliteStore

__all__ = [
    "Gap",
    "HistoryEntry",
    "MailFactory",
    "NewTicket",
    "OutboxItem",
    "Outgoing",
    "Store",
    "Ticket",
    "open_store",
]

POSTGRES_SCHEMES = ("postgres", "postgresql")


def open_store(database_url: str | None, sqlite_path: Path) -> Store:
    """A PostgreSQL store for a postgres:// or postgresql:// URL, else SQLite at `sqlite_path`.

    Nothing is connected yet: the store connects on first use (call `migrate()` first).
    Raises ConfigError naming DATABASE_URL when it is not a PostgreSQL URL.
    """
    if database_url is None or not database_url.strip():
        return SqliteStore(sqlite_path)
    url = database_url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is not a valid URL: {exc}") from None
    if scheme not in POSTGRES_SCHEMES:
        shown = scheme or url.split(":", 1)[0][:20]
        raise ConfigError(
            f"DATABASE_URL must start with postgres:// or postgresql://, not {shown!r}"
        )
    # Imported here so that asyncpg (the `postgres` extra) is needed only when used.
    from bot.store.postgres import PostgresStore

    return PostgresStore(url)
