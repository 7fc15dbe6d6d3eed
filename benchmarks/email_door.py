"""Benchmark the email door: triage (parse + decide), and end to end through IMAP and SMTP.

    python benchmarks/email_door.py [--messages 200] [--rounds 8] [--folder DIR] [--no-postgres]

Triage: every .eml of the shared eval corpus (or --folder), parsed and decided --rounds times:
messages per second, ms per message, parsing alone, the slowest files. End to end: --messages
copies of those mails (each with its own Message-ID and sender) appended to a throwaway Dovecot
mailbox, then one poller handles them all (IMAP fetch, the door, the store, SMTP to a recording
aiosmtpd, the keywords), on SQLite and, when Debian's PostgreSQL is installed, on PostgreSQL.
Starts and stops its own servers; prints figures; asserts nothing.

Not named email.py: the script's folder comes first on sys.path, and a file named email.py
there would stand in for the standard library's `email` package.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the servers come from the test helpers

import pytest  # noqa: E402

from bot.brain import Brain  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.mail.door import EmailDoor, Outcome  # noqa: E402
from bot.mail.imap import ImapPoller  # noqa: E402
from bot.mail.parse import parse_mail  # noqa: E402
from bot.mail.triage import decide  # noqa: E402
from bot.mailer import Mailer  # noqa: E402
from bot.store import open_store  # noqa: E402
from bot.tickets import TicketService  # noqa: E402
from tests.dovecot import PASSWORD, Dovecot, append, running_dovecot  # noqa: E402
from tests.mailfactory import SAMPLES, raw_mail  # noqa: E402
from tests.pg import temporary_postgres  # noqa: E402
from tests.smtp import SmtpServer  # noqa: E402

OWN = frozenset({"privacy@ciemtech.com"})
DOMAIN = "bot.bench"
SERVER_TROUBLE = (pytest.skip.Exception, pytest.fail.Exception)  # the helper's "unavailable"
FALLBACK = (  # when the shared corpus is not there
    "How long do you keep my invoices?",
    "Do you use cookies on your website, and can I turn them off?",
    "Please delete my account and all my personal data.",
    "What will the weather be like in Vejle tomorrow?",
    "Hvor længe gemmer I mine fakturaer?",
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def corpus(folder: Path) -> list[tuple[str, bytes]]:
    """(name, raw) of every .eml in `folder`, or a few made-up mails when there are none."""
    found = [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
    if found:
        return found
    print(f"no .eml files in {folder}: using {len(FALLBACK)} made-up mails")
    return [(f"made-up-{n}", raw_mail(text)) for n, text in enumerate(FALLBACK)]


def bench_triage(brain: Brain, mails: list[tuple[str, bytes]], rounds: int) -> None:
    def triage(raw: bytes) -> None:
        decide(parse_mail(raw), brain, own_addresses=OWN, own_domains=frozenset({DOMAIN}))

    for _, raw in mails:  # warm the caches
        triage(raw)
    per_file: dict[str, list[float]] = {name: [] for name, _ in mails}
    for _ in range(rounds):
        for name, raw in mails:
            start = time.perf_counter()
            triage(raw)
            per_file[name].append(time.perf_counter() - start)
    times = [t for ts in per_file.values() for t in ts]
    start = time.perf_counter()
    for _ in range(rounds):
        for _, raw in mails:
            parse_mail(raw)
    parsing = time.perf_counter() - start
    print(f"triage: {len(mails)} mails x {rounds} rounds: {len(times) / sum(times):.0f} msg/s, "
          f"p50 {percentile(times, 50) * 1000:.1f} ms, p99 {percentile(times, 99) * 1000:.1f} ms "
          f"per message (parse + decide, one core)")  # fmt: skip
    print(f"parse alone: {len(times) / parsing:.0f} msg/s")
    slowest = sorted(per_file.items(), key=lambda item: -statistics.median(item[1]))[:3]
    print("slowest: " + ", ".join(f"{n} {statistics.median(t) * 1000:.1f} ms" for n, t in slowest))


class TimedDoor:
    """The door, timing each message and counting what became of it."""

    def __init__(self, door: EmailDoor) -> None:
        self.door = door
        self.times: list[float] = []
        self.outcomes: Counter[str] = Counter()

    async def handle(self, raw: bytes, *, worker: str) -> Outcome:
        start = time.perf_counter()
        outcome = await self.door.handle(raw, worker=worker)
        self.times.append(time.perf_counter() - start)
        self.outcomes[outcome.action + (" (needs a person)" if outcome.needs_person else "")] += 1
        return outcome


def copies(mails: list[tuple[str, bytes]], n: int) -> list[bytes]:
    """`n` mails from the corpus, each with its own Message-ID and sender."""
    strip = re.compile(rb"(?im)^(message-id|from|reply-to):[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*")
    bases = [strip.sub(b"", raw) for _, raw in mails]
    return [f"Message-ID: <bench{i}@example.com>\r\nFrom: Person {i} <p{i}@example.com>\r\n"
            .encode() + bases[i % len(bases)] for i in range(n)]  # fmt: skip


async def bench_end_to_end(
    label: str, database_url: str | None, dovecot: Dovecot, brain: Brain, raws: list[bytes]
) -> None:
    smtp = SmtpServer()
    smtp.start()
    with tempfile.TemporaryDirectory(prefix="bench-email-") as tmp:
        user = dovecot.new_user()
        settings = Settings.from_env({
            "DATA_DIR": tmp, "SMTP_URL": smtp.url, "MESSAGE_ID_DOMAIN": DOMAIN,
            "IMAP_URL": f"imap://{user}@127.0.0.1:{dovecot.port}/INBOX?starttls=false",
            "IMAP_PASSWORD": PASSWORD, "AUTO_REPLY_LIMIT_PER_DAY": "1000",
        })  # fmt: skip
        store = open_store(database_url, Path(tmp) / "store.db")
        poller = None
        try:
            await store.migrate()
            mailer = Mailer(settings, store)
            tickets = TicketService(store, mailer, brain, settings)
            door = TimedDoor(EmailDoor(brain, store, tickets, mailer, settings))
            start = time.perf_counter()
            await append(dovecot, user, *raws)
            appended = time.perf_counter() - start
            if settings.imap is None:
                raise RuntimeError("IMAP_URL was not read")
            poller = ImapPoller(settings.imap, door, worker_name="bench")
            start = time.perf_counter()
            handled = await poller.poll_once()
            took = time.perf_counter() - start
        finally:
            if poller is not None:
                await poller.close()
            await store.close()
            smtp.stop()
    sent = Counter(str(m.message["X-Privacy-Bot"]) for m in smtp.messages)
    print(f"end to end on {label}: {handled} messages in {took:.2f} s = {handled / took:.1f} msg/s "
          f"(IMAP fetch + door + store + SMTP + keywords; appending them took {appended:.2f} s)")  # fmt: skip
    print(f"  per message: p50 {percentile(door.times, 50) * 1000:.1f} ms, "
          f"p99 {percentile(door.times, 99) * 1000:.1f} ms (the door, SMTP included)")  # fmt: skip
    print(f"  outcomes: {dict(door.outcomes)}; the relay received: {dict(sent)}")


async def end_to_end(brain: Brain, raws: list[bytes], postgres: bool) -> None:
    try:
        with running_dovecot() as dovecot:
            await bench_end_to_end("SQLite", None, dovecot, brain, raws)
            if not postgres:
                return
            with temporary_postgres("end to end on PostgreSQL") as url:
                if url is not None:
                    await bench_end_to_end("PostgreSQL", url, dovecot, brain, raws)
    except SERVER_TROUBLE as exc:  # from running_dovecot: it says why
        print(f"end to end: skipped, Dovecot could not start: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="mails end to end")
    parser.add_argument("--rounds", type=int, default=8, help="triage rounds over the corpus")
    parser.add_argument("--folder", type=Path, default=SAMPLES, help="a folder of .eml files")
    parser.add_argument("--no-postgres", action="store_true", help="end to end on SQLite only")
    args = parser.parse_args()
    start = time.perf_counter()
    brain = Brain.from_folder()
    print(f"core built in {(time.perf_counter() - start) * 1000:.0f} ms")
    mails = corpus(args.folder)
    bench_triage(brain, mails, args.rounds)
    asyncio.run(end_to_end(brain, copies(mails, args.messages), not args.no_postgres))


if __name__ == "__main__":
    main()
