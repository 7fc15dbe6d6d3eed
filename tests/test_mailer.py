"""The mailer against a real aiosmtpd server on loopback: headers, outbox, retries, .eml files."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult

from bot.config import Settings
from bot.mailer import MAX_ATTEMPTS, Mailer, backoff, safe_header
from bot.store import Store, open_store
from tests.smtp import SmtpServer
from tests.stores import due_mail

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def send(mailer: Mailer, message: EmailMessage, *, purpose: str) -> int | None:
    """Queue `message` and deliver it at once, as the doors do: None when it went out (or was
    written), else the outbox id under which it waits for the next flush."""
    out = mailer.prepare(message, purpose=purpose)
    mail_id = await mailer.store.enqueue_mail(
        message=out.message, recipients=out.recipients, purpose=purpose,
        next_attempt_at=out.not_before,
    )  # fmt: skip
    return None if await mailer.flush(ids=[mail_id]) else mail_id


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_database_url")
        return url
    return None


@pytest.fixture
async def store(database_url: str | None, tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(database_url, tmp_path / "store.db")
    try:
        await s.migrate()
        yield s
    finally:
        await s.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(None, tmp_path / "store.db")
    try:
        await s.migrate()
        yield s
    finally:
        await s.close()


def settings_for(tmp_path: Path, smtp_url: str | None = None) -> Settings:
    env = {"DATA_DIR": str(tmp_path / "data"), "MESSAGE_ID_DOMAIN": "bot.test"}
    if smtp_url:
        env["SMTP_URL"] = smtp_url
    return Settings.from_env(env)


def outgoing(to: str = "kunde@example.dk", subject: str = "Hello") -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Dear customer,\nyour data is safe.\n")
    return message


def test_safe_header_collapses_control_characters_and_caps_length() -> None:
    assert safe_header("Hi\r\nBcc: x@y") == "Hi Bcc: x@y"
    assert safe_header("a\tb\x00c\x1bd\u2028e\u2029f\x85g") == "a b c d e f g"
    assert safe_header("evil\u202etxt.exe") == "evil txt.exe"
    assert safe_header("  Sletning   af data  ") == "Sletning af data"
    assert safe_header(None) == ""
    long = safe_header("x" * 500)
    assert len(long) == 200 and long.endswith("…")
    assert safe_header("Æbleø " * 3, limit=8) == "Æbleø Æ…"


def test_backoff_doubles_from_a_minute_to_six_hours() -> None:
    waits = [backoff(n) for n in range(1, 12)]
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert waits[-1] == timedelta(hours=6)
    assert all(a <= b for a, b in itertools.pairwise(waits))
    assert backoff(10_000) == timedelta(hours=6)


async def test_send_stamps_the_bots_headers(
    smtp_server: SmtpServer, sqlite_store: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, smtp_server.url)
    mailer = Mailer(settings, sqlite_store, clock=Clock())
    message = outgoing()
    message["Bcc"] = "archive@ciemtech.com"
    message["From"] = "someone-else@example.com"
    assert await send(mailer, message, purpose="test") is None
    [got] = smtp_server.messages
    assert got.mail_from == "privacy@ciemtech.com"
    assert set(got.rcpt_tos) == {"kunde@example.dk", "archive@ciemtech.com"}
    m = got.message
    assert re.fullmatch(r"<[0-9a-f-]{36}@bot\.test>", m["Message-ID"])
    assert m["From"] == "privacy@ciemtech.com"
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["X-Privacy-Bot"] == "test"
    assert m["Date"].datetime == T0
    assert "Bcc" not in m and b"archive@" not in got.data


async def test_the_caller_chooses_auto_replied(
    smtp_server: SmtpServer, sqlite_store: Store, tmp_path: Path
) -> None:
    mailer = Mailer(settings_for(tmp_path, smtp_server.url), sqlite_store)
    message = outgoing()
    message["Auto-Submitted"] = "auto-replied"
    await send(mailer, message, purpose="ack")
    assert smtp_server.messages[0].message["Auto-Submitted"] == "auto-replied"
    with pytest.raises(ValueError, match="purpose"):
        await send(mailer, outgoing(), purpose="Bad Purpose\r\nX: y")
    with pytest.raises(ValueError, match="recipient"):
        await send(mailer, EmailMessage(), purpose="test")


async def test_user_text_cannot_inject_headers(
    smtp_server: SmtpServer, sqlite_store: Store, tmp_path: Path
) -> None:
    message = outgoing()
    with pytest.raises(ValueError):  # the email package refuses a raw CR/LF outright
        message["Subject"] = "Hi\r\nBcc: x@y"
    message = outgoing(subject=safe_header("Hi\r\nBcc: x@y"))
    await send(Mailer(settings_for(tmp_path, smtp_server.url), sqlite_store), message, purpose="t")
    [got] = smtp_server.messages
    assert got.message["Subject"] == "Hi Bcc: x@y"
    assert "Bcc" not in got.message and got.rcpt_tos == ("kunde@example.dk",)
    assert not re.search(rb"^Bcc:", got.data, re.MULTILINE)


async def test_a_send_while_the_server_is_down_is_delivered_by_flush_exactly_once(
    smtp_server: SmtpServer, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    mailer = Mailer(settings_for(tmp_path, smtp_server.url), store, clock=clock)
    smtp_server.stop()
    message = outgoing(subject="Din anmodning")
    with caplog.at_level(logging.WARNING):
        mail_id = await send(mailer, message, purpose="ticket")
    assert mail_id is not None
    assert "kunde@example.dk" not in caplog.text and "your data" not in caplog.text
    assert await due_mail(store, clock()) == []  # waits a minute
    clock.advance(minutes=1)
    [queued] = await due_mail(store, clock())
    assert (
        queued.id == mail_id and queued.attempts == 1 and queued.recipients == ("kunde@example.dk",)
    )
    assert await mailer.flush() == 0  # still down: the second attempt fails too
    [item] = await due_mail(store, clock() + timedelta(minutes=2))
    assert item.attempts == 2 and item.next_attempt_at == clock() + timedelta(minutes=2)
    assert item.last_error is not None and "@" not in item.last_error

    smtp_server.start()  # back on the same port
    assert await mailer.flush() == 0  # not due yet
    clock.advance(minutes=2)
    assert await mailer.flush() == 1
    assert await mailer.flush() == 0
    clock.advance(hours=7)
    assert await mailer.flush() == 0
    [got] = smtp_server.messages
    assert got.message["Message-ID"] == message["Message-ID"]
    assert got.message["Subject"] == "Din anmodning"


async def test_4xx_and_5xx_replies_are_queued_not_dropped(
    smtp_server: SmtpServer, sqlite_store: Store, tmp_path: Path
) -> None:
    clock = Clock()
    mailer = Mailer(settings_for(tmp_path, smtp_server.url), sqlite_store, clock=clock)
    smtp_server.recorder.reply = "451 4.3.0 Try again later"
    assert await send(mailer, outgoing(), purpose="test") is not None
    smtp_server.recorder.reply = "554 5.7.1 <kunde@example.dk> refused"
    assert await send(mailer, outgoing(), purpose="test") is not None
    clock.advance(minutes=1)
    errors = [i.last_error or "" for i in await due_mail(sqlite_store, clock())]
    assert "451" in errors[0] and "554" in errors[1] and "kunde@" not in errors[1]
    smtp_server.recorder.reply = None
    assert await mailer.flush() == 2
    assert len(smtp_server.messages) == 2


async def test_a_silent_server_times_out_and_the_message_is_queued(
    sqlite_store: Store, tmp_path: Path
) -> None:
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # never greets

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = settings_for(tmp_path, f"smtp://127.0.0.1:{port}?starttls=false")
        mailer = Mailer(settings, sqlite_store, timeout=0.3)
        assert await send(mailer, outgoing(), purpose="test") is not None
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
    [item] = await due_mail(sqlite_store, datetime.now(UTC) + timedelta(minutes=2))
    assert "Timeout" in (item.last_error or "")


async def test_it_logs_in_when_a_username_is_configured(
    sqlite_store: Store, tmp_path: Path
) -> None:
    logins: list[tuple[str, str]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()
        logins.append((login, password))
        return AuthResult(success=password == "s3cret", handled=False)

    server = SmtpServer(auth_require_tls=False, authenticator=authenticator)
    server.start()
    try:
        good = f"smtp://bot%40ciemtech.com:s3cret@127.0.0.1:{server.port}?starttls=false"
        bad = f"smtp://bot%40ciemtech.com:wrong@127.0.0.1:{server.port}?starttls=false"
        assert (
            await send(Mailer(settings_for(tmp_path, good), sqlite_store), outgoing(), purpose="t")
            is None
        )
        queued = await send(
            Mailer(settings_for(tmp_path, bad), sqlite_store), outgoing(), purpose="t"
        )
    finally:
        server.stop()
    assert queued is not None
    assert logins[0] == ("bot@ciemtech.com", "s3cret")
    assert set(logins[1:]) == {("bot@ciemtech.com", "wrong")}  # the client tries each mechanism
    assert len(server.messages) == 1


async def test_without_smtp_messages_become_eml_files(sqlite_store: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    mailer = Mailer(settings, sqlite_store, clock=Clock())
    assert await send(mailer, outgoing(subject="Første besked"), purpose="ack") is None
    assert await send(mailer, outgoing(), purpose="ack") is None
    files = sorted(settings.outbox_dir.iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)
    assert all(re.fullmatch(r"20260301T120000000000Z-[0-9a-f]{16}\.eml", f.name) for f in files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    parsed = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert {str(p["Subject"]) for p in parsed} == {"Første besked", "Hello"}
    assert all(p["X-Privacy-Bot"] == "ack" and p["From"] == "privacy@ciemtech.com" for p in parsed)


async def test_an_unwritable_outbox_folder_queues_until_flush_can_write(
    sqlite_store: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    settings.data_dir.mkdir(parents=True)
    settings.outbox_dir.write_text("in the way")  # a file where the folder should be
    clock = Clock()
    mailer = Mailer(settings, sqlite_store, clock=clock)
    assert await send(mailer, outgoing(), purpose="test") is not None
    settings.outbox_dir.unlink()
    clock.advance(minutes=1)
    assert await mailer.flush() == 1
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 1
    assert not list(settings.outbox_dir.glob(".*"))  # no temp file left behind


async def queue(mailer: Mailer, subject: str = "Hello") -> tuple[int, bytes]:
    """Put one stamped message straight into the outbox, due at T0; (id, wire bytes)."""
    out = mailer.prepare(outgoing(subject=subject), purpose="test")
    mail_id = await mailer.store.enqueue_mail(
        message=out.message, recipients=out.recipients, purpose="test", next_attempt_at=T0
    )
    return mail_id, out.message


def test_max_attempts_span_about_three_days_of_backoff() -> None:
    waited = sum((backoff(n) for n in range(1, MAX_ATTEMPTS)), timedelta())
    assert timedelta(days=2.5) < waited < timedelta(days=3.5)


async def test_two_mailers_flushing_at_once_deliver_each_message_once(
    smtp_server: SmtpServer, store: Store, database_url: str | None, tmp_path: Path
) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, smtp_server.url)
    other_store = open_store(database_url, tmp_path / "store.db")
    try:
        one = Mailer(settings, store, clock=clock, worker="one")
        two = Mailer(settings, other_store, clock=clock, worker="two")
        queued = [(await queue(one, f"queued {n}"))[1] for n in range(24)]
        counts = await asyncio.gather(one.flush(), two.flush(), one.flush(), two.flush())
        assert sum(counts) == 24
    finally:
        await other_store.close()
    ids = [m.message["Message-ID"] for m in smtp_server.messages]
    assert len(ids) == 24 and len(set(ids)) == 24
    sent = await store.list_mail(include_sent=True)
    assert {m.state for m in sent} == {"sent"} and {m.claimed_by for m in sent} <= {"one", "two"}
    assert [m.message for m in sorted(sent, key=lambda m: m.id)] == queued


async def test_a_claim_of_a_crashed_worker_waits_for_its_lease(
    smtp_server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    clock = Clock()
    mailer = Mailer(settings_for(tmp_path, smtp_server.url), store, clock=clock, worker="w")
    await queue(mailer)
    assert len(await store.claim_mail(T0, 5, mailer.lease_seconds, "crashed")) == 1
    assert await mailer.flush() == 0
    clock.advance(seconds=mailer.lease_seconds - 1)
    assert await mailer.flush() == 0
    clock.advance(seconds=1)
    assert await mailer.flush() == 1 and len(smtp_server.messages) == 1


async def test_flush_with_ids_sends_only_those(
    smtp_server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    mailer = Mailer(settings_for(tmp_path, smtp_server.url), store, clock=Clock())
    ids = [(await queue(mailer, f"m{n}"))[0] for n in range(3)]
    assert await mailer.flush(ids=[]) == 0
    assert await mailer.flush(ids=ids[1:2]) == 1
    assert [m.message["Subject"] for m in smtp_server.messages] == ["m1"]
    assert await mailer.flush(limit=1) == 1 and await mailer.flush() == 1
    assert sorted(m.message["Subject"] for m in smtp_server.messages) == ["m0", "m1", "m2"]


async def test_a_message_that_keeps_failing_is_kept_dead_and_retried_on_request(
    smtp_server: SmtpServer, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    mailer = Mailer(settings_for(tmp_path, smtp_server.url), store, clock=clock)
    smtp_server.stop()
    message = outgoing()
    mail_id = await send(mailer, message, purpose="ack")
    assert mail_id is not None
    with caplog.at_level(logging.WARNING):
        for attempt in range(2, MAX_ATTEMPTS + 1):
            clock.advance(seconds=backoff(attempt - 1).total_seconds())
            assert await mailer.flush() == 0
            [item] = await store.list_mail()
            assert item.attempts == attempt
    assert timedelta(days=2.5) < clock() - T0 < timedelta(days=3.5)
    assert item.state == "dead" and item.dead_at == clock() and item.last_error
    assert "@" not in item.last_error
    [given_up] = [r for r in caplog.records if "given up" in r.getMessage()]
    assert given_up.levelno == logging.WARNING and f"outbox #{mail_id} (ack)" in given_up.message
    assert "kunde@" not in caplog.text and "your data" not in caplog.text
    clock.advance(days=30)
    assert await mailer.flush() == 0
    [still] = await store.list_mail()
    assert still.attempts == MAX_ATTEMPTS and still.state == "dead"

    smtp_server.start()
    await store.retry_mail(mail_id, clock())
    assert await mailer.flush() == 1 and await mailer.flush() == 0
    [got] = smtp_server.messages
    assert got.message["Message-ID"] == message["Message-ID"]
