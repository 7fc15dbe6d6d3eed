"""Benchmark tickets and the outbox: tickets opened with their two mails, and outbox flushing.

    python benchmarks/tickets.py [--tickets 200] [--outbox 1000] [--no-postgres]

For SQLite and (when Debian's PostgreSQL is installed) PostgreSQL: --tickets formal requests
opened one at a time and 10 at once, each stored with its team notification and acknowledgement
in one transaction and delivered through a recording aiosmtpd on loopback (tickets/s, p50/p99);
then --outbox messages queued and flushed (one SMTP connection per flush of 100). Starts and
stops its own servers; prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the servers come from the test helpers

from bot.brain import Brain  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.mailer import Mailer  # noqa: E402
from bot.store import Store, open_store  # noqa: E402
from bot.tickets import TicketService  # noqa: E402
from tests.pg import temporary_postgres  # noqa: E402
from tests.smtp import SmtpServer  # noqa: E402

TEXTS = (
    "Please delete all my data.",
    "Send me a copy of all the personal data you hold about me.",
    "Slet venligst alle mine oplysninger.",
    "I applied for a job at CiemTech last year. Please delete my application and CV.",
    "Stop sending me offers.",
)
CONCURRENCY = (1, 10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def open_tickets(
    label: str,
    store: Store,
    brain: Brain,
    settings: Settings,
    smtp: SmtpServer,
    n: int,
    at_once: int,
) -> None:
    service = TicketService(store, Mailer(settings, store), brain, settings)
    gate = asyncio.Semaphore(at_once)
    before = len(smtp.messages)

    async def one(i: int) -> float:
        async with gate:
            start = time.perf_counter()
            await service.open_ticket(
                kind="erasure", requester=f"user{i}@example.dk", text=TEXTS[i % len(TEXTS)],
                channel="email", subject="Request", source_message_id=f"<{at_once}-{i}@bench>",
            )  # fmt: skip
            return time.perf_counter() - start

    start = time.perf_counter()
    times = await asyncio.gather(*(one(i) for i in range(n)))
    took = time.perf_counter() - start
    print(f"{label:10} {at_once:>2} at once: {n} tickets + {len(smtp.messages) - before} mails in "
          f"{took:5.2f} s = {n / took:6.1f} tickets/s, p50 {percentile(times, 50) * 1000:5.1f} ms, "
          f"p99 {percentile(times, 99) * 1000:5.1f} ms")  # fmt: skip


async def flush_outbox(
    label: str, store: Store, settings: Settings, smtp: SmtpServer, m: int
) -> None:
    data = b"To: a@example.dk\r\nSubject: queued\r\nMessage-ID: <q@bench>\r\n\r\nhello\r\n"
    due = datetime.now(UTC) - timedelta(minutes=1)
    start = time.perf_counter()
    for _ in range(m):
        await store.enqueue_mail(
            message=data, recipients=("a@example.dk",), purpose="bench", next_attempt_at=due
        )
    queued = time.perf_counter() - start
    mailer, before, sent = Mailer(settings, store), len(smtp.messages), 0
    start = time.perf_counter()
    while batch := await mailer.flush(limit=100):
        sent += batch
    took = time.perf_counter() - start
    print(f"{label:10} outbox: {m} queued in {queued:5.2f} s ({m / queued:6.0f}/s); {sent} flushed "
          f"in {took:5.2f} s ({sent / took:5.0f} msg/s; the relay got {len(smtp.messages) - before})")  # fmt: skip


async def bench(
    label: str, database_url: str | None, brain: Brain, args: argparse.Namespace
) -> None:
    smtp = SmtpServer()
    smtp.start()
    with tempfile.TemporaryDirectory(prefix="bench-tickets-") as tmp:
        settings = Settings.from_env({"DATA_DIR": tmp, "SMTP_URL": smtp.url})
        store = open_store(database_url, Path(tmp) / "store.db")
        try:
            await store.migrate()
            for at_once in CONCURRENCY:
                await open_tickets(label, store, brain, settings, smtp, args.tickets, at_once)
            await flush_outbox(label, store, settings, smtp, args.outbox)
        finally:
            await store.close()
            smtp.stop()


async def on_postgres(brain: Brain, args: argparse.Namespace) -> None:
    with temporary_postgres("PostgreSQL") as url:
        if url is not None:
            await bench("PostgreSQL", url, brain, args)


async def run(args: argparse.Namespace) -> None:
    brain = Brain.from_folder()
    await bench("SQLite", None, brain, args)
    if not args.no_postgres:
        await on_postgres(brain, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200, help="tickets per run")
    parser.add_argument("--outbox", type=int, default=1000, help="messages queued and flushed")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
