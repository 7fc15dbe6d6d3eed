"""Versioned schema migrations for both backends, applied in order by `Store.migrate()`."""

from typing import Final

from bot.errors import StoreError

SQLITE_VERSION_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""

POSTGRES_VERSION_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

# Tickets get `seq` on insert (SQLite AUTOINCREMENT, PostgreSQL SEQUENCE ticket_seq) and
# then their `id` (PRIV-<year>-<seq>) in the same transaction; `id` is NULL only in between.
# SQLite keeps datetimes as fixed-width ISO 8601 UTC text (so text order is time order),
# dates as YYYY-MM-DD and string tuples as JSON arrays.
_SQLITE_V1: Final = """
CREATE TABLE tickets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE,
    kind TEXT NOT NULL,
    requester TEXT NOT NULL,
    requester_name TEXT,
    channel TEXT NOT NULL,
    lang TEXT NOT NULL,
    received_at TEXT NOT NULL,
    due_date TEXT NOT NULL,
    sections TEXT NOT NULL,
    routes TEXT NOT NULL,
    route_note TEXT,
    original_text TEXT NOT NULL,
    subject TEXT,
    source_message_id TEXT NOT NULL UNIQUE,
    policy_hash TEXT NOT NULL,
    identity_verified INTEGER NOT NULL,
    on_behalf_of_other INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'awaiting_identity', 'extended', 'done', 'rejected')),
    created_at TEXT NOT NULL,
    extended_due_date TEXT,
    closed_at TEXT
);
CREATE INDEX tickets_status ON tickets (status);
CREATE INDEX tickets_created ON tickets (created_at);
CREATE TABLE ticket_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    note TEXT
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, seq);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message BLOB NOT NULL,
    recipients TEXT NOT NULL,
    purpose TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE TABLE inbound (
    key_hash TEXT PRIMARY KEY,
    worker TEXT,
    claimed_at TEXT,
    lease_until TEXT,
    finished_at TEXT,
    action TEXT,
    reason TEXT,
    ticket_id TEXT
);
CREATE TABLE auto_replies (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_hash TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX auto_replies_sender ON auto_replies (sender_hash, at);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    lang TEXT NOT NULL,
    score REAL NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX gaps_at ON gaps (at)
"""

_POSTGRES_V1: Final = """
CREATE SEQUENCE ticket_seq;
CREATE TABLE tickets (
    seq BIGINT PRIMARY KEY DEFAULT nextval('ticket_seq'),
    id TEXT UNIQUE,
    kind TEXT NOT NULL,
    requester TEXT NOT NULL,
    requester_name TEXT,
    channel TEXT NOT NULL,
    lang TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    due_date DATE NOT NULL,
    sections TEXT[] NOT NULL,
    routes TEXT[] NOT NULL,
    route_note TEXT,
    original_text TEXT NOT NULL,
    subject TEXT,
    source_message_id TEXT NOT NULL UNIQUE,
    policy_hash TEXT NOT NULL,
    identity_verified BOOLEAN NOT NULL,
    on_behalf_of_other BOOLEAN NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'awaiting_identity', 'extended', 'done', 'rejected')),
    created_at TIMESTAMPTZ NOT NULL,
    extended_due_date DATE,
    closed_at TIMESTAMPTZ
);
CREATE INDEX tickets_status ON tickets (status);
CREATE INDEX tickets_created ON tickets (created_at);
CREATE TABLE ticket_history (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    note TEXT
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, seq);
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message BYTEA NOT NULL,
    recipients TEXT[] NOT NULL,
    purpose TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE TABLE inbound (
    key_hash TEXT PRIMARY KEY,
    worker TEXT,
    claimed_at TIMESTAMPTZ,
    lease_until TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    action TEXT,
    reason TEXT,
    ticket_id TEXT
);
CREATE TABLE auto_replies (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_hash TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX auto_replies_sender ON auto_replies (sender_hash, at);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
CREATE TABLE gaps (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    text TEXT NOT NULL,
    lang TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX gaps_at ON gaps (at);
ALTER SEQUENCE ticket_seq OWNED BY tickets.seq
"""

# Version 2: outbox messages are linked to their ticket, claimed by one worker at a time
# (`claimed_by`, `claimed_at`; the lease end is `next_attempt_at`) and end `dead` (kept, not
# retried) after too many failed attempts.
_V2: Final = """
ALTER TABLE outbox ADD COLUMN ticket_id TEXT REFERENCES tickets (id);
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_at {ts};
ALTER TABLE outbox ADD COLUMN dead_at {ts};
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_ticket ON outbox (ticket_id) WHERE ticket_id IS NOT NULL
"""

# (version, sqlite_sql, postgres_sql); append new versions, never edit applied ones.
MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (1, _SQLITE_V1, _POSTGRES_V1),
    (2, _V2.format(ts="TEXT"), _V2.format(ts="TIMESTAMPTZ")),
)

LATEST_VERSION: Final = MIGRATIONS[-1][0]


def statements(sql: str) -> list[str]:
    """Split a migration script into statements (scripts keep ';' out of literals)."""
    return [part.strip() for part in sql.split(";") if part.strip()]


def pending(current: int, backend: str) -> list[tuple[int, str]]:
    """Migrations newer than `current` for `backend` ("sqlite" or "postgres"), in order."""
    if current > LATEST_VERSION:
        raise StoreError(
            f"database schema version {current} is newer than this code's {LATEST_VERSION}; "
            "upgrade privacybot"
        )
    index = 1 if backend == "sqlite" else 2
    return [(m[0], str(m[index])) for m in MIGRATIONS if m[0] > current]
