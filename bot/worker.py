"""The worker process: IMAP poller, Slack Socket Mode, outbox flusher, daily retention purge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from bot.config import Settings
from bot.errors import PrivacyBotError
from bot.logs import work
from bot.mailer import purge_files
from bot.store import Store, open_store

FLUSH_SECONDS: Final = 15.0
PURGE_SECONDS: Final = 24 * 3600.0
log = logging.getLogger("bot.worker")


async def open_ready_store(settings: Settings) -> Store:
    """The configured store; a SQLite file is created and migrated on the spot (PostgreSQL
    is migrated by the release phase, `privacybot migrate`)."""
    store = open_store(settings.database_url, settings.sqlite_path)
    if store.backend == "sqlite":
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
    return store


async def purge_once(
    store: Store, before: datetime, outbox_dir: Path | None = None
) -> dict[str, int]:
    """Run the retention purge now: personal data older than `before` goes, in the store and
    (given `outbox_dir`) the .eml files the no-SMTP mode wrote there."""
    counts = await store.purge(before)
    if outbox_dir is not None:
        counts["eml_files"] = await asyncio.to_thread(purge_files, outbox_dir, before)
    log.info("retention purge before %s: %s", before.date(), counts)
    return counts


async def sleep_until(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop` is set; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def every(
    name: str, seconds: float, job: Callable[[], Awaitable[object]], stop: asyncio.Event
) -> None:
    """Run `job` now and then every `seconds` until `stop`; a failure is logged, not fatal."""
    while not stop.is_set():
        with work():
            try:
                await job()
            except Exception:
                log.exception("%s failed; trying again in %.0f s", name, seconds)
        if await sleep_until(stop, seconds):
            return


def worker_name() -> str:
    """Who holds a mailbox lease: host name and process id (unique per dyno and process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop`): every configured loop, then close the store.

    On SIGTERM each loop finishes what it holds (the IMAP poller the message in hand, then it
    logs out) before the store is closed. A loop that fails stops the others; a bad setting
    found on the way (a refused Slack token) is raised as ConfigError once all have stopped.
    """
    from bot.service import stop_on_signals

    if stop is None:
        stop = asyncio.Event()
        stop_on_signals(stop)
    store = await open_ready_store(settings)
    try:
        return await _supervise(_jobs(settings, store, stop), stop)
    finally:
        await store.close()
        log.info("worker stopped")


def _jobs(
    settings: Settings, store: Store, stop: asyncio.Event
) -> dict[str, Coroutine[Any, Any, Any]]:
    from bot.metrics import Metrics
    from bot.parts import build_parts

    imap, slack = settings.imap, settings.slack
    app_token = slack.app_token if slack is not None else None
    brain = None
    if imap is not None or app_token is not None:
        from bot.brain import Brain

        brain = Brain.from_folder(settings.knowledge_dir)
    parts = build_parts(
        settings, store, Metrics(), brain, email=imap is not None, slack=app_token is not None
    )
    jobs: dict[str, Coroutine[Any, Any, Any]] = {}
    if imap is not None and parts.email_door is not None:
        from bot.mail.imap import ImapPoller

        poller = ImapPoller(imap, parts.email_door, worker_name=worker_name())
        jobs["imap"] = poller.run(stop)
    if app_token is not None and parts.slack_app is not None:
        from bot.slack.socket import run_socket_mode

        jobs["slack"] = run_socket_mode(parts.slack_app, app_token, stop)
    if jobs:
        log.info("worker running: %s, outbox flusher, daily retention purge", ", ".join(jobs))
    else:
        log.info("no IMAP_URL or SLACK_APP_TOKEN configured: running only the outbox flusher "
                 "and the daily retention purge")  # fmt: skip
    jobs["outbox"] = every("outbox flush", FLUSH_SECONDS, parts.mailer.flush, stop)

    async def purge() -> None:
        cut = datetime.now(UTC) - timedelta(days=settings.retention_days)
        await purge_once(store, cut, settings.outbox_dir)

    jobs["purge"] = every("retention purge", PURGE_SECONDS, purge, stop)
    return jobs


async def _supervise(jobs: dict[str, Coroutine[Any, Any, Any]], stop: asyncio.Event) -> int:
    """Wait for every job to end after `stop`; a job that ends early stops the others."""
    tasks = {asyncio.create_task(job, name=name): name for name, job in jobs.items()}
    status, fatal = 0, None
    pending: set[asyncio.Task[Any]] = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if isinstance(exc, PrivacyBotError):
                fatal = fatal or exc
            elif exc is not None:
                log.error("%s failed: %s", tasks[task], type(exc).__name__, exc_info=exc)
                status = 1
            elif not stop.is_set():
                log.error("%s ended before the worker was asked to stop", tasks[task])
                status = 1
        if pending and (status or fatal) and not stop.is_set():
            log.info("stopping the other loops")
            stop.set()
    if fatal is not None:
        raise fatal
    return status
