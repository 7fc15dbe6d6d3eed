"""The email door wired for real: Dovecot mailbox, aiosmtpd relay, SQLite or PostgreSQL store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.brain import Brain
from bot.config import Settings
from bot.mail.door import EmailDoor, Outcome
from bot.mail.imap import ImapPoller
from bot.mailer import Mailer
from bot.store import Store, open_store
from bot.tickets import TicketService
from tests.dovecot import PASSWORD, Dovecot, running_dovecot
from tests.smtp import SmtpServer

TEAM = "privacy-team@ciemtech.com"
BOT_DOMAIN = "bot.test"


class Clock:
    """A clock the test moves by hand (leases and the rate window follow it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the door catches it."""


class CrashAfterSend(Mailer):
    """A mailer whose process dies right after the relay accepted the queued mail."""

    async def flush(self, limit: int = 100, *, ids: Collection[int] | None = None) -> int:
        await super().flush(limit, ids=ids)
        raise Crash


class CrashBeforeSend(Mailer):
    """A mailer whose process dies just before talking to the relay (the mail is queued)."""

    async def flush(self, limit: int = 100, *, ids: Collection[int] | None = None) -> int:
        raise Crash


@dataclass
class Worker:
    """One process's worth of parts: its own store connection, mailer, tickets, door, poller."""

    store: Store
    mailer: Mailer
    door: EmailDoor
    poller: ImapPoller


@dataclass
class Rig:
    """Everything one test needs; `worker()` makes another independent worker (a restart,
    or a second process on the same mailbox and database)."""

    brain: Brain
    settings: Settings
    dovecot: Dovecot
    smtp: SmtpServer
    user: str
    clock: Clock
    database_url: str | None
    path: Path
    workers: list[Worker] = field(default_factory=list)

    def worker(self, name: str = "w1", *, mailer: type[Mailer] = Mailer) -> Worker:
        store = open_store(self.database_url, self.path / "store.db")
        made = mailer(self.settings, store, clock=self.clock)
        tickets = TicketService(store, made, self.brain, self.settings, clock=self.clock)
        door = EmailDoor(self.brain, store, tickets, made, self.settings, clock=self.clock)
        assert self.settings.imap is not None
        poller = ImapPoller(self.settings.imap, door, worker_name=name, timeout=10)
        built = Worker(store, made, door, poller)
        self.workers.append(built)
        return built

    def replies(self) -> list[str]:
        """In-Reply-To of every auto-reply the relay received."""
        return [str(m.message["In-Reply-To"]) for m in self.smtp.recorder.by_purpose("reply")]

    async def outcome(self, message_id: str) -> Outcome | None:
        done = await self.workers[0].store.inbound_outcome(f"email:{message_id}")
        if done is None:
            return None
        return Outcome(str(done["action"]), str(done["reason"] or ""), done["ticket_id"])


@pytest.fixture(scope="session", name="dovecot")
def dovecot_fixture() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"], name="database_url")
def database_url_fixture(request: pytest.FixtureRequest) -> str | None:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_database_url")
        return url
    return None


def make_settings(
    dovecot: Dovecot, user: str, smtp: SmtpServer, path: Path, **env: str
) -> Settings:
    return Settings.from_env({
        "DATA_DIR": str(path / "data"), "SMTP_URL": smtp.url, "PRIVACY_TEAM_ADDRESS": TEAM,
        "MESSAGE_ID_DOMAIN": BOT_DOMAIN, "IMAP_URL": f"imap://{user}@127.0.0.1:{dovecot.port}/INBOX?starttls=false",
        "IMAP_PASSWORD": PASSWORD, "IMAP_POLL_SECONDS": "1", **env,
    })  # fmt: skip


@pytest.fixture(name="rig_factory")
async def rig_factory_fixture(
    brain: Brain, dovecot: Dovecot, smtp_server: SmtpServer, tmp_path: Path,
    database_url: str | None,
) -> AsyncIterator[Callable[..., Rig]]:  # fmt: skip
    """Makes the rig (settings overridable by environment names), closes its stores after."""
    made: list[Rig] = []

    def make(**env: str) -> Rig:
        user = dovecot.new_user()
        settings = make_settings(dovecot, user, smtp_server, tmp_path, **env)
        rig = Rig(brain, settings, dovecot, smtp_server, user, Clock(), database_url, tmp_path)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        for worker in rig.workers:
            await worker.poller.close()
            await worker.store.close()


@pytest.fixture(name="rig")
async def rig_fixture(rig_factory: Callable[..., Rig]) -> Rig:
    made = rig_factory()
    await made.worker().store.migrate()
    return made


def with_imap(settings: Settings, **changes: object) -> Settings:
    """`settings` with some IMAP settings changed (port, TLS, token...)."""
    assert settings.imap is not None
    return replace(settings, imap=replace(settings.imap, **changes))  # type: ignore[arg-type]
