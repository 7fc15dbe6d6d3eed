"""`privacybot purge`: retention on demand, on SQLite and PostgreSQL, through the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import NewTicket, Store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore

PRIVACYBOT = Path(sys.executable).with_name("privacybot")
NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(days=200)

TICKET = NewTicket(
    kind="erasure", requester="jane.doe@example.com", requester_name="Jane Doe",
    channel="email", lang="en", received_at=LONG_AGO, due_date=date(2026, 1, 1),
    sections=("5.3",), routes=("privacy@ciemtech.com",), route_note=None,
    original_text="Please delete everything you have about me.", subject="Delete me",
    source_message_id="<old@example.com>", policy_hash="abc", identity_verified=False,
    on_behalf_of_other=False,
)  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment that points privacybot at a fresh store of either kind."""
    env = {"DATA_DIR": str(tmp_path / "var"), "RETENTION_DAYS": "90"}
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_database_url")
    return env


def store_at(env: dict[str, str], when: datetime) -> Store:
    """A store of the environment's kind whose clock says `when`."""
    if "DATABASE_URL" in env:
        return PostgresStore(env["DATABASE_URL"], clock=lambda: when)
    return SqliteStore(Path(env["DATA_DIR"]) / "privacybot.sqlite3", clock=lambda: when)


async def fill(env: dict[str, str]) -> tuple[str, str]:
    """Old data of every kind, an old closed ticket, an old open ticket, one recent gap."""
    async with store_at(env, LONG_AGO) as old:
        await old.migrate()
        closed, _ = await old.create_ticket(TICKET)
        await old.set_status(closed.id, "done", actor="dpo", note="erased")
        still_open, _ = await old.create_ticket(replace(TICKET, source_message_id="<open@x>"))
        await old.add_gap(text="weather in Vejle?", lang="en", score=0.1, at=LONG_AGO)
        await old.add_gap(text="do you sell laptops?", lang="en", score=0.1, at=NOW)
        await old.record_auto_reply("jane.doe@example.com", LONG_AGO)
        await old.remember_event("Ev01", LONG_AGO)
        mail_id = await old.enqueue_mail(
            message=b"Subject: hi\r\n\r\nbody", recipients=("jane.doe@example.com",),
            purpose="reply", next_attempt_at=LONG_AGO,
        )  # fmt: skip
        await old.mark_mail_sent(mail_id, LONG_AGO)
        dead_id = await old.enqueue_mail(
            message=b"Subject: bounced\r\n\r\nbody", recipients=("gone@example.com",),
            purpose="ack", next_attempt_at=LONG_AGO,
        )  # fmt: skip
        await old.mark_mail_dead(dead_id, "550 no such user", LONG_AGO)
    outbox = Path(env["DATA_DIR"]) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    for name, when in (("old.eml", LONG_AGO), ("new.eml", NOW)):
        (outbox / name).write_bytes(b"Subject: hi\r\n\r\nbody")
        os.utime(outbox / name, (when.timestamp(), when.timestamp()))
    return closed.id, still_open.id


def purge(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env
    return subprocess.run(
        [str(PRIVACYBOT), "purge"], cwd=cwd, env=full, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


async def test_purge_removes_old_personal_data_and_keeps_the_record(
    database: dict[str, str], tmp_path: Path
) -> None:
    closed_id, open_id = await fill(database)
    first = purge(database, tmp_path)
    again = purge(database, tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("purged personal data older than ")
    assert lines[0].endswith("UTC (RETENTION_DAYS=90):")
    counts = dict(line.strip().split(": ") for line in lines[1:])
    assert counts == {"tickets": "1", "outbox": "1", "dead_mail": "1", "gaps": "1",
                      "inbound": "0", "auto_replies": "1", "events": "1",
                      "eml_files": "1"}  # fmt: skip
    assert again.returncode == 0 and all(line.endswith(": 0") for line in again.stdout.splitlines()[1:])  # fmt: skip
    async with store_at(database, NOW) as store:
        closed = await store.get_ticket(closed_id)
        still_open = await store.get_ticket(open_id)
        gaps = await store.list_gaps(NOW - timedelta(days=365))
        replies = await store.count_auto_replies("jane.doe@example.com", LONG_AGO - timedelta(1))
        assert await store.remember_event("Ev01", NOW)  # forgotten, so new again
        [dead] = await store.list_mail()
    assert (dead.state, dead.message, dead.purpose, dead.attempts, dead.last_error) == (
        "dead", b"", "ack", 1, "550 no such user"
    )  # fmt: skip
    assert [p.name for p in (Path(database["DATA_DIR"]) / "outbox").glob("*.eml")] == ["new.eml"]
    assert closed is not None and still_open is not None
    assert (closed.original_text, closed.subject) == ("", None)
    assert (closed.kind, closed.requester, closed.status, closed.due_date) == (
        "erasure", "jane.doe@example.com", "done", date(2026, 1, 1)
    )  # fmt: skip
    assert closed.history[-1].action == "purged"
    assert still_open.original_text == TICKET.original_text
    assert [g.text for g in gaps] == ["do you sell laptops?"]
    assert replies == 0


def test_purge_with_a_bad_setting_names_it(tmp_path: Path) -> None:
    bad = purge({"DATA_DIR": str(tmp_path), "RETENTION_DAYS": "forever"}, tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "privacybot: RETENTION_DAYS must be a whole number, not 'forever'"
