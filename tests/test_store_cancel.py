"""A cancelled store call leaves no transaction open (both stores): others write at once."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.store import Store
from bot.store.sqlbase import SqlBase
from tests.stores import T0

AT_ONCE = 2.0  # seconds: far below SQLite's 30 s busy timeout; PostgreSQL would wait forever
INSERT = "INSERT INTO events (event_id, at) VALUES (?, ?)"


@pytest.fixture(name="loop_errors")
async def loop_errors_fixture() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler (asyncpg reports there a pooled
    connection that comes back with its transaction still open)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    yield seen
    loop.set_exception_handler(old)


async def holding(store: Store, event_id: str, inside: asyncio.Event) -> None:
    """Insert an event in a write session and stay inside it until cancelled."""
    assert isinstance(store, SqlBase)
    async with store.session("test", write=True) as conn:
        await conn.run(INSERT, (event_id, store.ts(T0)))
        inside.set()
        await asyncio.Event().wait()


async def writes_at_once(*stores: Store, event_id: str) -> None:
    """Every store records `event_id` (a new one each) without waiting for a lock."""
    for n, store in enumerate(stores):
        assert await asyncio.wait_for(store.remember_event(f"{event_id}-{n}", T0), AT_ONCE)


async def test_a_write_cancelled_midway_holds_no_lock(
    store: Store, stores: Callable[[], Store], loop_errors: list[dict[str, Any]]
) -> None:
    other, inside = stores(), asyncio.Event()
    task = asyncio.create_task(holding(store, "Ev1", inside))
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the same id: this insert would wait for the cancelled one, had it not been rolled back
    assert await asyncio.wait_for(other.remember_event("Ev1", T0), AT_ONCE) is True
    await writes_at_once(store, other, event_id="after")
    assert loop_errors == []


async def test_a_write_cancelled_at_any_point_holds_no_lock(
    store: Store, stores: Callable[[], Store], loop_errors: list[dict[str, Any]]
) -> None:
    """Cancelled after 0, 1, 2 ... turns of the event loop: while beginning (SQLite's BEGIN
    still runs in its thread after the await is cancelled), inserting, or committing."""
    other = stores()
    for turns in range(16):
        task = asyncio.create_task(store.remember_event(f"Ev{turns}", T0))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await writes_at_once(other, store, event_id=f"after{turns}")
    assert loop_errors == []


@pytest.mark.parametrize("cancels", [1, 2])
async def test_a_write_cancelled_while_it_waits_for_the_lock(
    store: Store, stores: Callable[[], Store], loop_errors: list[dict[str, Any]], cancels: int
) -> None:
    """Cancelled (and cancelled again while rolling back) as it waits for a lock another
    connection holds: once that one ends, nothing is left open behind the cancelled write."""
    holder, third, inside = stores(), stores(), asyncio.Event()
    held = asyncio.create_task(holding(holder, "Ev1", inside))
    await inside.wait()
    waiting = asyncio.create_task(store.remember_event("Ev1", T0))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    for _ in range(cancels):
        waiting.cancel()
        await asyncio.sleep(0)
    held.cancel()
    for task in (held, waiting):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, AT_ONCE)
    await writes_at_once(third, store, holder, event_id="after")
    assert loop_errors == []
