"""Mangled MIME through the real door and store: it never raises and records one outcome each."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.brain import Brain
from bot.config import Settings
from bot.mail.door import EmailDoor
from bot.mailer import Mailer
from bot.store import open_store
from bot.tickets import TicketService
from tests.mailfactory import SAMPLES, multipart, part, raw_mail

INSERTS = (
    b"\r\n", b"\r\n\r\n", b"--", b"\r\n--b\r\n", b"=?utf-8?B?", b"=?utf8x?Q?=FF?=", b"=\r\n",
    b"\x00", b"\xff\xfe\xfd", b"Content-Type: multipart/mixed; boundary=\"zz\"\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Type: text/html; charset=utf8x\r\n",
    b"<script>x</script>", b"> quoted\r\n", b"Subject: =?utf-8?Q?a=0D=0Ab?=\r\n", b"\t", b"(((",
    b"From: \"a, b\" <@>\r\n", b"Message-ID: <>\r\n",
)  # fmt: skip


def _bases() -> list[bytes]:
    found = [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))] if SAMPLES.exists() else []
    found += [
        raw_mail("Do you store my IP address?"),
        raw_mail(
            multipart([part("Please delete my data."), part(b"%PDF", "application/pdf")], "b1"),
            content_type='multipart/mixed; boundary="b1"',
        ),
        raw_mail("SGVqLCBzbGV0IG1pbmUgZGF0YS4=\r\n", cte="base64"),
    ]
    # without a Message-ID each mangled copy is a new message (keyed by its hash), not a replay
    return [re.sub(rb"(?im)^message-id:[^\r\n]*\r?\n", b"", raw) for raw in found]


BASES = _bases()


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "noise"]))
        pos = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[pos : pos + draw(st.integers(1, 300))]
        elif op == "insert":
            raw[pos:pos] = draw(st.sampled_from(INSERTS))
        elif op == "truncate":
            del raw[pos:]
        else:
            raw[pos:pos] = draw(st.binary(min_size=1, max_size=40))
    return bytes(raw)


def test_mangled_mime_never_breaks_the_door(brain: Brain, tmp_path: Path) -> None:
    config = Settings.from_env({"DATA_DIR": str(tmp_path), "AUTO_REPLY_LIMIT_PER_DAY": "10000",
                                "MESSAGE_ID_DOMAIN": "bot.test"})  # fmt: skip
    loop = asyncio.new_event_loop()
    store = open_store(None, tmp_path / "store.db")
    mailer = Mailer(config, store)
    door = EmailDoor(brain, store, TicketService(store, mailer, brain, config), mailer, config)
    seen: dict[str, int] = {}
    try:
        loop.run_until_complete(store.migrate())

        @settings(
            max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(mangled())
        def check(raw: bytes) -> None:
            outcome = loop.run_until_complete(door.handle(raw, worker="fuzz"))
            assert outcome.final, outcome
            assert outcome.action in ("reply", "ticket", "ignore"), outcome.reason
            recorded = loop.run_until_complete(store.inbound_outcome(outcome.key))
            assert recorded is not None and recorded["action"] == outcome.action
            seen[outcome.action] = seen.get(outcome.action, 0) + 1

        check()
    finally:
        loop.run_until_complete(store.close())
        loop.close()
    assert set(seen) >= {"reply", "ignore"}


def test_not_even_bytes_is_an_error_outcome(brain: Brain, tmp_path: Path) -> None:
    config = Settings.from_env({"DATA_DIR": str(tmp_path)})
    store = open_store(None, tmp_path / "store.db")
    mailer = Mailer(config, store)
    door = EmailDoor(brain, store, TicketService(store, mailer, brain, config), mailer, config)

    async def go() -> None:
        await store.migrate()
        try:
            outcome = await door.handle(None, worker="w")  # type: ignore[arg-type]
            assert (outcome.action, outcome.final) == ("error", True)
            assert "TypeError" in outcome.reason
        finally:
            await store.close()

    asyncio.run(go())
