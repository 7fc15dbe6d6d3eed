"""`POST /inbound/email` on a real aiohttp server: secret, size cap, outcome JSON, exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.answer import Answer
from bot.brain import Message
from bot.errors import StoreError
from bot.mail import webhook
from bot.mail.webhook import EMAIL_DOOR, INBOUND_SECRET, inbound_email
from tests.emailrig import Rig
from tests.mailfactory import raw_mail

SECRET = "s3cret-for-tests"
RAW = raw_mail("Do you use cookies on your website?")


@pytest.fixture(name="client")
async def client_fixture(rig: Rig) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app[EMAIL_DOOR] = rig.workers[0].door
    app[INBOUND_SECRET] = SECRET
    app.router.add_post("/inbound/email", inbound_email)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_secret_is_required(client: TestClient[web.Request, web.Application]) -> None:
    assert (await client.post("/inbound/email", data=RAW)).status == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.post("/inbound/email", data=RAW, headers=wrong)).status == 401
    header = {"X-Inbound-Secret": SECRET[:-1]}
    assert (await client.post("/inbound/email", data=RAW, headers=header)).status == 401


async def test_no_secret_configured_accepts_nothing(rig: Rig) -> None:
    app = web.Application()
    app[EMAIL_DOOR] = rig.workers[0].door
    app.router.add_post("/inbound/email", inbound_email)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/inbound/email", data=RAW, headers={"X-Inbound-Secret": ""})
        assert response.status == 401


async def test_message_is_answered_once(
    client: TestClient[web.Request, web.Application], rig: Rig
) -> None:
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"}
    first = await client.post("/inbound/email", data=RAW, headers=headers)
    body = await first.json()
    assert (first.status, body["action"], body["ticket"], body["replayed"]) == (
        200, "reply", None, False,
    )  # fmt: skip
    assert "answered from the policy" in body["reason"]
    again = await client.post("/inbound/email", data=RAW, headers={"X-Inbound-Secret": SECRET})
    repeat = await again.json()
    assert (again.status, repeat["action"], repeat["replayed"]) == (200, "reply", True)
    assert len(rig.replies()) == 1


async def test_formal_request_returns_the_ticket(
    client: TestClient[web.Request, web.Application],
) -> None:
    raw = raw_mail("Please delete my account and all my data.", headers={"Message-ID": "<t@x.y>"})
    response = await client.post("/inbound/email", data=raw, headers={"X-Inbound-Secret": SECRET})
    body = await response.json()
    assert body["action"] == "ticket" and body["ticket"].startswith("PRIV-")


async def test_empty_and_oversized_bodies(
    client: TestClient[web.Request, web.Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"X-Inbound-Secret": SECRET}
    assert (await client.post("/inbound/email", data=b"  ", headers=headers)).status == 400
    monkeypatch.setattr(webhook, "MAX_MESSAGE_BYTES", 1000)
    big = raw_mail("x" * 5000)
    assert (await client.post("/inbound/email", data=big, headers=headers)).status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(10):
            yield b"y" * 500

    assert (await client.post("/inbound/email", data=chunks(), headers=headers)).status == 413


async def test_an_unrecorded_outcome_asks_the_mta_to_retry(
    client: TestClient[web.Request, web.Application], rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*_: Any, **__: Any) -> bool:
        raise StoreError("database is down")

    headers = {"X-Inbound-Secret": SECRET}
    monkeypatch.setattr(rig.workers[0].store, "claim_inbound", down)
    response = await client.post("/inbound/email", data=RAW, headers=headers)
    assert (response.status, response.headers["Retry-After"]) == (503, "60")
    assert (await response.json())["action"] == "error"
    monkeypatch.undo()
    await rig.workers[0].store.claim_inbound("email:t2@x.y", "other", rig.clock(), 600)
    raw = raw_mail("Do you use cookies?", headers={"Message-ID": "<t2@x.y>"})
    busy = await client.post("/inbound/email", data=raw, headers=headers)
    assert (busy.status, (await busy.json())["action"]) == (503, "busy")
    assert "Retry-After" in busy.headers
    assert (await client.post("/inbound/email", data=RAW, headers=headers)).status == 200


async def test_a_recorded_error_is_final(
    client: TestClient[web.Request, web.Application], rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(message: Message) -> Answer:
        raise RuntimeError("core failure")

    monkeypatch.setattr(rig.brain, "answer", boom)
    response = await client.post("/inbound/email", data=RAW, headers={"X-Inbound-Secret": SECRET})
    assert (response.status, (await response.json())["action"]) == (200, "error")
