"""Fixtures for the store suites: the same tests on SQLite and on a real PostgreSQL."""

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.deadlines import due_date
from bot.store import NewTicket, OutboxItem, Store, open_store
from bot.store.schema import LATEST_VERSION

Backend = tuple[str | None, Path]
T0 = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


def new_ticket(source: str = "<m1@example.com>", **changes: object) -> NewTicket:
    base = NewTicket(
        kind="erasure",
        requester="kunde@example.dk",
        requester_name="Kunde Æbleø",
        channel="email",
        lang="da",
        received_at=T0,
        due_date=due_date(T0),
        sections=("11", "5.3"),
        routes=("privacy@ciemtech.com", "account-settings"),
        route_note=None,
        original_text="Slet venligst alle mine oplysninger. Tak!",
        subject="Sletning af data",
        source_message_id=source,
        policy_hash="sha256:abc",
        identity_verified=False,
        on_behalf_of_other=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(name="backend", params=["sqlite", "postgres"])
def backend_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_database_url"), tmp_path / "unused.db"
    return None, tmp_path / "store.db"


@pytest.fixture(name="stores")
async def stores_fixture(backend: Backend) -> AsyncIterator[Callable[[], Store]]:
    """Opens more stores (separate connections) on the test's database; closes them all."""
    opened: list[Store] = []

    def make() -> Store:
        opened.append(open_store(*backend))
        return opened[-1]

    yield make
    for s in opened:
        await s.close()


@pytest.fixture(name="store")
async def store_fixture(stores: Callable[[], Store]) -> Store:
    s = stores()
    assert await s.migrate() == LATEST_VERSION
    return s


async def due_mail(store: Store, now: datetime, limit: int = 100) -> list[OutboxItem]:
    """Queued (live) messages whose next attempt is due at `now`, earliest first."""
    live = [m for m in await store.list_mail() if m.state == "queued" and m.next_attempt_at <= now]
    return sorted(live, key=lambda m: (m.next_attempt_at, m.id))[:limit]
