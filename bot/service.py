"""The operators' commands: `privacybot serve`, `worker`, `purge` and `gaps`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from bot.config import Settings, load_settings
from bot.errors import ConfigError, PrivacyBotError

if TYPE_CHECKING:
    from bot.store import Store

T = TypeVar("T")

SHUTDOWN_GRACE: Final = 20.0  # seconds for requests in flight after SIGTERM (platforms give 30)
log = logging.getLogger("bot.service")


def _setup(args: argparse.Namespace) -> Settings:
    from bot.logs import setup_logging

    settings = load_settings()
    if getattr(args, "knowledge", None):
        settings = replace(settings, knowledge_dir=Path(args.knowledge))
    setup_logging(settings.log_level, settings.log_format)
    return settings


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"--port must be a whole number, not {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, not {port}")
    return port


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGTERM (the platform stopping us) or SIGINT (Ctrl-C)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _setup(args)
    host = args.host or settings.host
    port = settings.port if args.port in (None, "") else _port(args.port)
    return asyncio.run(_serve(settings, host, port))


async def _serve(settings: Settings, host: str, port: int) -> int:
    from aiohttp import web

    from bot.web import create_app

    stop = asyncio.Event()
    stop_on_signals(stop)
    app = create_app(settings)
    # The core's index lives as long as the process: keep the collector from scanning it.
    gc.collect()
    gc.freeze()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
    try:
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, backlog=1024).start()
        except OSError as exc:
            raise PrivacyBotError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        bound = ", ".join(f"http://{a[0]}:{a[1]}" for a in runner.addresses)
        log.info("privacybot serving on %s", bound)
        await stop.wait()
        log.info("stopping: no new connections; finishing the requests in flight")
    finally:
        await runner.cleanup()
    log.info("stopped")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.worker import run_worker

    settings = _setup(args)
    return asyncio.run(run_worker(settings))


def cmd_purge(args: argparse.Namespace) -> int:
    from bot.worker import purge_once

    settings = _setup(args)
    cut = datetime.now(UTC) - timedelta(days=settings.retention_days)
    outbox = settings.outbox_dir
    counts = asyncio.run(_with_store(settings, lambda store: purge_once(store, cut, outbox)))
    print(f"purged personal data older than {cut:%Y-%m-%d %H:%M} UTC "
          f"(RETENTION_DAYS={settings.retention_days}):")  # fmt: skip
    for table, count in counts.items():
        print(f"  {table}: {count}")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    from bot.gaps import cluster

    if args.days < 1:
        raise PrivacyBotError("--days must be at least 1")
    settings = _setup(args)
    since = datetime.now(UTC) - timedelta(days=args.days)
    gaps = asyncio.run(_with_store(settings, lambda store: store.list_gaps(since)))
    groups = cluster(gaps)
    if args.json:
        for g in groups:
            row = {"count": g.count, "text": g.text, "langs": g.langs,
                   "last_seen": g.last_seen.isoformat(), "examples": g.examples()}  # fmt: skip
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    if not groups:
        print(f"no knowledge gaps in the last {args.days} days")
        return 0
    print(f"{len(gaps)} declined or low-confidence questions in the last {args.days} days, "
          f"{len(groups)} groups (most frequent first):")  # fmt: skip
    for g in groups:
        print(f"{g.count:5d}  {g.text}  [{'/'.join(g.langs)}, last {g.last_seen:%Y-%m-%d}]")
        for example in g.examples():
            print(f"       ~ {example}")
    return 0


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    from bot.worker import open_ready_store

    store = await open_ready_store(settings)
    try:
        return await work(store)
    finally:
        await store.close()


def register(sub: Any) -> None:
    """Add serve, worker, purge and gaps to the `privacybot` command line."""
    serve = sub.add_parser("serve", help="run the HTTP service (/ask, /healthz, /metrics, ...)")
    serve.add_argument("--host", help="address to bind (default: $HOST or 127.0.0.1)")
    serve.add_argument("--port", nargs="?", help="port to bind (default: $PORT or 8080)")
    serve.set_defaults(handler=cmd_serve)
    worker = sub.add_parser("worker", help="run the IMAP poller, Socket Mode, outbox and purge")
    worker.set_defaults(handler=cmd_worker)
    purge = sub.add_parser("purge", help="purge personal data older than RETENTION_DAYS now")
    purge.set_defaults(handler=cmd_purge)
    gaps = sub.add_parser("gaps", help="list declined or low-confidence questions, grouped")
    gaps.add_argument("--days", type=int, default=30, help="how far back to look (default 30)")
    gaps.add_argument("--json", action="store_true", help="one JSON object per group")
    gaps.set_defaults(handler=cmd_gaps)
