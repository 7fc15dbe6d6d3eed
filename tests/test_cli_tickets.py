"""`privacybot migrate`, `tickets ...` and `outbox flush` through the real command line."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from bot.brain import Brain
from bot.cli import main
from bot.config import Settings
from bot.mailer import Mailer
from bot.store import Ticket, open_store
from bot.store.schema import LATEST_VERSION
from bot.tickets import TicketService
from tests.pg import free_port
from tests.smtp import SmtpServer

SETTINGS_VARIABLES = (
    "DATABASE_URL", "SMTP_URL", "DATA_DIR", "KNOWLEDGE_DIR", "MAIL_FROM", "PRIVACY_TEAM_ADDRESS",
    "MESSAGE_ID_DOMAIN", "IMAP_URL", "SLACK_BOT_TOKEN", "API_TOKEN", "INBOUND_SECRET",
)  # fmt: skip


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment: no settings but DATA_DIR, and an empty .env in the working dir."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("", encoding="utf-8")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def open_tickets(brain: Brain, *requests: dict[str, object]) -> list[Ticket]:
    """Open tickets the way the doors do (no SMTP configured: mail goes to .eml files)."""

    async def go() -> list[Ticket]:
        import os

        settings = Settings.from_env(os.environ)
        store = open_store(settings.database_url, settings.sqlite_path)
        try:
            await store.migrate()
            service = TicketService(store, Mailer(settings, store), brain, settings)
            return [(await service.open_ticket(**r))[0] for r in requests]  # type: ignore[arg-type]
        finally:
            await store.close()

    return asyncio.run(go())


def email_request(
    source: str, *, days_ago: int = 0, requester: str = "kunde@example.dk"
) -> dict[str, object]:
    return {
        "kind": "erasure", "requester": requester, "requester_name": "Kunde Æbleø",
        "text": "Please delete all my data.", "channel": "email", "subject": "Delete my data",
        "source_message_id": source,
        "received_at": datetime.now(UTC) - timedelta(days=days_ago),
    }  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrate_prints_the_schema_version(
    backend: str, data_dir: Path, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    if backend == "postgres":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("postgres_database_url"))
    code, out, _ = run(capsys, "migrate")
    assert code == 0
    assert out == f"{backend} store at schema version {LATEST_VERSION}\n"
    assert run(capsys, "migrate")[1] == out  # idempotent


def test_list_is_an_aligned_table_with_masked_requesters(
    data_dir: Path, brain: Brain, capsys: pytest.CaptureFixture[str]
) -> None:
    late, fresh, slack = open_tickets(
        brain,
        email_request("<old@x>", days_ago=40),
        email_request("<new@x>", requester="jane.doe@corp.co"),
        {"kind": "access", "requester": "U0123ABC", "text": "Send me all data you hold about me.",
         "channel": "slack", "source_message_id": "slack:1"},
    )  # fmt: skip
    code, out, _ = run(capsys, "tickets", "list")
    assert code == 0
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["ID", "KIND", "STATUS", "DUE", "REQUESTER"]
    assert len(lines) == 4
    for column in ("KIND", "STATUS", "DUE", "REQUESTER"):  # every cell starts under its heading
        at = lines[0].index(column)
        assert all(ln[at - 2 : at] == "  " and ln[at] != " " for ln in lines[1:]), column
    assert f"{late.effective_due_date} OVERDUE" in lines[1] and "k***@example.dk" in lines[1]
    assert "j***@corp.co" in lines[2] and "OVERDUE" not in lines[2]
    assert lines[3].rstrip().endswith(" ***") and "U0123ABC" not in out and "kunde@" not in out
    assert [
        ln.split()[0] for ln in run(capsys, "tickets", "list", "--overdue")[1].splitlines()[1:]
    ] == [late.id]
    run(capsys, "tickets", "close", fresh.id, "--note", "deleted", "--actor", "anna")
    open_ids = [
        ln.split()[0] for ln in run(capsys, "tickets", "list", "--open")[1].splitlines()[1:]
    ]
    assert open_ids == [late.id, slack.id]


def test_show_close_and_extend(
    data_dir: Path, brain: Brain, capsys: pytest.CaptureFixture[str]
) -> None:
    [ticket] = open_tickets(brain, email_request("<m1@x>"))
    code, out, _ = run(capsys, "tickets", "show", ticket.id.lower())
    assert code == 0
    flat = re.sub(r"^(\w[\w ]*): +", r"\1: ", out, flags=re.MULTILINE)
    for expected in (f"ticket: {ticket.id}", "requester: kunde@example.dk", "name: Kunde Æbleø",
                     "identity: not verified", "status: awaiting_identity",
                     "  > Please delete all my data.",
                     "privacybot  created  - -> awaiting_identity  received via email; "
                     "the sender's address must be confirmed"):  # fmt: skip
        assert expected in flat, expected
    code, out, _ = run(
        capsys, "tickets", "extend", ticket.id, "--reason", "Three systems.", "--actor", "anna"
    )
    assert code == 0
    assert out.startswith(f"{ticket.id} extended: due ") and "the requester was told" in out
    notices = [
        message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in (data_dir / "outbox").glob("*.eml")
    ]
    assert [m["X-Privacy-Bot"] for m in notices].count("extension") == 1
    code, out, _ = run(
        capsys, "tickets", "close", ticket.id, "--note", "Deleted everywhere.", "--actor", "anna"
    )
    assert (code, out) == (0, f"{ticket.id} closed as done\n")
    shown = run(capsys, "tickets", "show", ticket.id)[1]
    assert "anna  extended  awaiting_identity -> extended  Three systems." in shown
    assert "anna  status  extended -> done  Deleted everywhere." in shown


def test_errors_are_one_clear_line(
    data_dir: Path,
    brain: Brain,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "tickets", "show", "PRIV-2026-999999")
    assert (code, out, err) == (2, "", "privacybot: no ticket PRIV-2026-999999\n")
    [ticket] = open_tickets(brain, email_request("<m1@x>"))
    run(capsys, "tickets", "close", ticket.id, "--note", "done")
    code, _, err = run(capsys, "tickets", "close", ticket.id, "--note", "again")
    assert code == 2 and err == f"privacybot: {ticket.id} is already closed (done)\n"
    monkeypatch.setenv("DATABASE_URL", "mysql://db.example.com/privacy")
    code, _, err = run(capsys, "tickets", "list")
    assert code == 2 and err.count("\n") == 1 and "DATABASE_URL" in err
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    code, _, err = run(capsys, "migrate")
    assert code == 2 and err.startswith("privacybot: ") and err.count("\n") == 1


def test_outbox_flush_delivers_what_is_due(
    data_dir: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert run(capsys, "outbox", "flush")[1] == "delivered 0 queued message(s)\n"
    monkeypatch.setenv("SMTP_URL", smtp_server.url)

    async def queue() -> None:
        store = open_store(None, data_dir / "privacybot.sqlite3")
        try:
            await store.migrate()
            past = datetime.now(UTC) - timedelta(minutes=5)
            for n in range(3):
                data = f"To: kunde@example.dk\r\nSubject: queued {n}\r\n\r\nhello\r\n".encode()
                await store.enqueue_mail(
                    message=data,
                    recipients=("kunde@example.dk",),
                    purpose="test",
                    next_attempt_at=past,
                )
        finally:
            await store.close()

    asyncio.run(queue())
    assert run(capsys, "outbox", "flush", "--limit", "2")[1] == "delivered 2 queued message(s)\n"
    assert run(capsys, "outbox", "flush")[1] == "delivered 1 queued message(s)\n"
    assert sorted(m.message["Subject"] for m in smtp_server.messages) == [
        f"queued {n}" for n in range(3)
    ]


def test_verify_records_the_confirmed_identity(
    data_dir: Path, brain: Brain, capsys: pytest.CaptureFixture[str]
) -> None:
    [ticket] = open_tickets(brain, email_request("<m1@x>"))
    code, out, _ = run(capsys, "tickets", "verify", ticket.id, "--note", "Replied from the address.",
                       "--actor", "anna")  # fmt: skip
    assert (code, out) == (0, f"{ticket.id}: identity verified; status open\n")
    shown = run(capsys, "tickets", "show", ticket.id)[1]
    assert "identity:" in shown and "not verified" not in shown
    assert "anna  identity_verified  awaiting_identity -> open  Replied from the address." in shown
    code, _, err = run(capsys, "tickets", "verify", ticket.id, "--note", "again")
    assert (
        code == 2
        and err == f"privacybot: {ticket.id}: the requester's identity is already verified\n"
    )


def test_outbox_list_shows_dead_mail_and_retry_queues_it_again(
    data_dir: Path, brain: Brain, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert run(capsys, "outbox", "list")[1] == "the outbox is empty\n"
    [ticket] = open_tickets(brain, email_request("<m1@x>"))  # .eml files: sent at once
    shown = run(capsys, "tickets", "show", ticket.id)[1]
    assert re.search(r"^  \d+ +ticket +" + ticket.id + " +sent ", shown, re.MULTILINE)

    async def kill_one() -> int:
        store = open_store(None, data_dir / "privacybot.sqlite3")
        try:
            data = b"To: kunde@example.dk\r\nSubject: stuck\r\n\r\nhello\r\n"
            mail_id = await store.enqueue_mail(message=data, recipients=("kunde@example.dk",),
                                               purpose="ack", next_attempt_at=datetime.now(UTC))  # fmt: skip
            await store.mark_mail_dead(
                mail_id, "SMTPRecipientsRefused: <address> refused", datetime.now(UTC)
            )
            return mail_id
        finally:
            await store.close()

    dead = asyncio.run(kill_one())
    code, out, _ = run(capsys, "outbox", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert re.split(r"\s{2,}", lines[0]) == [
        "ID", "PURPOSE", "TICKET", "STATE", "ATTEMPTS", "WHEN", "LAST ERROR",
    ]  # fmt: skip
    assert re.split(r"\s{2,}", lines[1])[:5] == [str(dead), "ack", "-", "dead", "1"]
    assert lines[1].endswith("SMTPRecipientsRefused: <address> refused")
    assert len(run(capsys, "outbox", "list", "--all")[1].splitlines()) == 4

    code, out, _ = run(capsys, "outbox", "retry", str(dead))
    assert (code, out) == (0, f"outbox #{dead} (ack) queued again: the next flush sends it\n")
    assert re.split(r"\s{2,}", run(capsys, "outbox", "list")[1].splitlines()[1])[3:5] == [
        "queued", "0",
    ]  # fmt: skip
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    assert run(capsys, "outbox", "flush")[1] == "delivered 1 queued message(s)\n"
    assert [m.message["Subject"] for m in smtp_server.messages] == ["stuck"]
    code, _, err = run(capsys, "outbox", "retry", str(dead))
    assert (
        code == 2
        and err == f"privacybot: outbox message {dead} was already sent; nothing to retry\n"
    )
    code, _, err = run(capsys, "outbox", "retry", "999999")
    assert code == 2 and err == "privacybot: no outbox message 999999\n"
