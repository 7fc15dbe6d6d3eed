"""Logs respect privacy: masked addresses, no bodies at INFO, an id on every record, JSON lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.brain import Brain
from bot.config import Settings
from bot.logs import current_id, mask_address, mask_text, new_id, setup_logging, work
from bot.web import create_app

SECRET_BODY = "my sister Karen Blixen-Finecke has asthma and lives at Strandvej 7"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Install the real logging setup writing into a buffer; undo it afterwards."""
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging("INFO", "json", buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane.doe@corp.co", "j***@corp.co"),
        ("J@example.com", "J***@example.com"),
        ("  kim@sub.example.dk ", "k***@sub.example.dk"),
        ("not an address", "***"),
        ("@nobody.dk", "***"),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_mask_text_masks_addresses_and_long_numbers() -> None:
    text = "Mail jane.doe@corp.co or søren.å@firma.dk, call +45 12 34 56 78, CPR 010190-1234."
    assert mask_text(text) == ("Mail j***@corp.co or s***@firma.dk, call [number], CPR [number].")
    assert mask_text("section 8.6 of 2017, 90 days") == "section 8.6 of 2017, 90 days"


def test_every_record_carries_the_id_of_its_unit_of_work(
    logged: io.StringIO,
) -> None:
    buffer = logged
    log = logging.getLogger("bot.test")
    log.info("outside")
    with work("abc123") as wid:
        assert current_id() == wid == "abc123"
        log.info("inside", extra={"action": "reply"})
        with work() as inner:
            log.warning("nested")
        assert current_id() == "abc123"
    assert current_id() == "-"
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(r["message"], r["request_id"]) for r in lines] == [
        ("outside", "-"), ("inside", "abc123"), ("nested", inner)
    ]  # fmt: skip
    assert lines[1]["action"] == "reply" and lines[1]["level"] == "INFO"
    assert {"time", "logger"} <= lines[0].keys()


def test_ids_are_unique() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_text_format_has_the_id(logged: io.StringIO) -> None:
    buffer = io.StringIO()
    handler = setup_logging("INFO", "text", buffer)
    try:
        with work("req-1"):
            logging.getLogger("bot.test").info("hello")
    finally:
        logging.getLogger().removeHandler(handler)
    assert buffer.getvalue().rstrip().endswith("INFO bot.test [req-1] hello")


def mail(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane Doe <jane.doe@example.com>"
    msg["To"] = "privacy@ciemtech.com"
    msg["Subject"] = "About my sister"
    msg["Message-ID"] = "<logs-1@example.com>"
    msg.set_content(body)
    return msg.as_bytes()


async def test_no_address_or_body_is_logged_at_info(
    logged: io.StringIO, tmp_path: Path, brain: Brain
) -> None:
    buffer = logged
    env = {"DATA_DIR": str(tmp_path), "INBOUND_SECRET": "s", "ASK_RATE_PER_MINUTE": "12"}
    app = create_app(Settings.from_env(env), brain=brain)
    questions = [
        f"Please delete everything about me, jane.doe@example.com. {SECRET_BODY}",
        f"what is the weather for jane.doe@example.com? {SECRET_BODY}",
    ]
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await client.post("/ask", data=f"not json {SECRET_BODY} jane.doe@example.com")
        for q in questions:  # a burst of 2: the second is refused by the rate limit
            await client.post("/ask", json={"question": q})
        await client.get("/nope/jane.doe@example.com")
        r = await client.post("/inbound/email", data=mail(SECRET_BODY),
                              headers={"X-Inbound-Secret": "s"})  # fmt: skip
        assert r.status == 200
    out = buffer.getvalue()
    for line in ("POST /ask 400", "POST /ask 429", "GET /nope/j***@example.com 404"):
        assert line in out
    assert "jane.doe" not in out and "Jane Doe" not in out
    assert "Karen" not in out and "asthma" not in out and "Strandvej" not in out
    assert "About my sister" not in out
