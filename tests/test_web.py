"""The HTTP API on a real loopback socket: auth, limits, bad input, errors, metrics, health, gaps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.answer import Answer
from bot.brain import Brain, Message
from bot.config import Settings
from bot.store import open_store
from bot.web import METRICS, STORE, create_app

Client = TestClient[web.Request, web.Application]
Serve = Callable[..., AbstractAsyncContextManager[Client]]
DESIGN_KEYS = {"question", "lang", "answered", "sections", "quote", "contacts", "request", "text"}


@pytest.fixture
def serve(tmp_path: Path, brain: Brain) -> Serve:
    """Start the app (settings from `env`) on a loopback port; stops it on leaving."""

    @asynccontextmanager
    async def running(env: dict[str, str] | None = None, **kwargs: Any) -> AsyncIterator[Client]:
        settings = Settings.from_env({"DATA_DIR": str(tmp_path), **(env or {})})
        app = create_app(settings, brain=kwargs.pop("brain", brain), **kwargs)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client

    return running


async def ask(client: Client, question: str, **extra: str) -> Any:
    """POST /ask and return the JSON body (the status must be 200)."""
    r = await client.post("/ask", json={"question": question, **extra})
    assert r.status == 200
    return await r.json()


async def test_ask_returns_the_design_contract(serve: Serve) -> None:
    async with serve() as client:
        r = await client.post("/ask", json={"question": "How do I delete my data?"})
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        body = await r.json()
    assert body.keys() >= DESIGN_KEYS
    assert body["answered"] is True and body["lang"] == "en"
    assert body["sections"] and {"id", "title", "score"} <= body["sections"][0].keys()
    assert body["quote"] and body["contacts"]


async def test_ask_in_danish_and_forced_language(serve: Serve) -> None:
    async with serve() as client:
        da = await ask(client, "Hvordan sletter jeg mine data?")
        forced = await ask(client, "How do I delete my data?", lang="da")
    assert da["lang"] == "da" and forced["lang"] == "da"


async def test_repeated_question_gets_the_same_answer(serve: Serve) -> None:
    async with serve() as client:
        first = await ask(client, "Do you use cookies?")
        again = await ask(client, " Do  you use cookies? ")
        metrics = await (await client.get("/metrics")).text()
    assert first == again
    assert 'privacybot_answer_cache_total{outcome="hit"} 1.0' in metrics


async def test_bearer_token_required_when_set(serve: Serve) -> None:
    question = {"question": "How do I delete my data?"}
    async with serve({"API_TOKEN": "s3cret"}) as client:
        missing = await client.post("/ask", json=question)
        wrong = await client.post("/ask", json=question, headers={"Authorization": "Bearer nope"})
        basic = await client.post("/ask", json=question, headers={"Authorization": "Basic s3cret"})
        right = await client.post("/ask", json=question, headers={"Authorization": "bearer s3cret"})
        health = await client.get("/healthz")
        assert (await missing.json()) == {"error": "a valid bearer token is required"}
    assert [missing.status, wrong.status, basic.status, right.status] == [401, 401, 401, 200]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert health.status == 200  # only /ask is behind the token


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body must be a JSON object"),
        (b"\xff\xfe\x00", "the body must be a JSON object"),
        (b"", "the body must be a JSON object"),
        (b'["a list"]', "the body must be a JSON object"),
        (b"{}", "`question` must be a non-empty string"),
        (b'{"question": "   "}', "`question` must be a non-empty string"),
        (b'{"question": 42}', "`question` must be a non-empty string"),
        (b'{"question": "cookies?", "lang": "fr"}', '`lang` must be "en" or "da" when given'),
        (b'{"question": "' + b"a" * 2001 + b'"}', "`question` must be at most 2000 characters"),
    ],
)
async def test_bad_requests_get_400_json(serve: Serve, body: bytes, message: str) -> None:
    async with serve() as client:
        r = await client.post("/ask", data=body, headers={"Content-Type": "application/json"})
        assert r.status == 400
        assert await r.json() == {"error": message}


async def test_body_over_the_size_limit_gets_413_json(serve: Serve) -> None:
    async with serve({"MAX_REQUEST_BYTES": "1024"}) as client:
        r = await client.post("/ask", data=b'{"question": "' + b"x" * 2000 + b'"}')
        assert r.status == 413
        assert "error" in await r.json()
        ok = await client.post("/ask", json={"question": "Do you use cookies?"})
        assert ok.status == 200


async def test_rate_limit_gives_429_with_retry_after(serve: Serve) -> None:
    async with serve({"ASK_RATE_PER_MINUTE": "6"}) as client:  # a burst of 1, then 1 per 10 s
        first = await client.post("/ask", json={"question": "Do you use cookies?"})
        second = await client.post("/ask", json={"question": "Do you use cookies?"})
        health = await client.get("/healthz")
        metrics = await (await client.get("/metrics")).text()
        assert await second.json() == {"error": "too many requests"}
    assert (first.status, second.status, health.status) == (200, 429, 200)
    assert second.headers["Retry-After"] == "10"
    assert 'privacybot_rate_limited_total{route="/ask"} 1.0' in metrics


@pytest.mark.parametrize("trusted", [False, True])
async def test_rate_limit_counts_the_forwarded_address_only_behind_a_trusted_proxy(
    serve: Serve, trusted: bool
) -> None:
    env = {"ASK_RATE_PER_MINUTE": "6", "TRUST_PROXY": "true" if trusted else "false"}
    question = {"question": "Do you use cookies?"}
    async with serve(env) as client:
        # the router appends the caller's address; what comes before is the caller's to forge
        one = {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}
        other = {"X-Forwarded-For": "198.51.100.2"}
        forged = {"X-Forwarded-For": "192.0.2.99, 198.51.100.1"}
        statuses = [(await client.post("/ask", json=question, headers=h)).status
                    for h in (one, other, forged)]  # fmt: skip
    assert statuses == ([200, 200, 429] if trusted else [200, 429, 429])


async def test_unknown_route_and_method_are_json(serve: Serve) -> None:
    async with serve() as client:
        missing = await client.get("/nope/jane.doe@example.com")
        wrong = await client.get("/ask")
        assert (missing.status, await missing.json()) == (404, {"error": "not found"})
        assert (wrong.status, await wrong.json()) == (405, {"error": "method not allowed"})
        assert wrong.headers["Allow"] == "POST"


class BrokenBrain(Brain):
    """A core that fails with an internal detail in its message."""

    def answer(self, message: Message) -> Answer:
        raise RuntimeError("internal detail /etc/secret")


async def test_errors_are_json_with_the_request_id_and_no_traceback(
    serve: Serve, brain: Brain
) -> None:
    async with serve(brain=BrokenBrain(brain.knowledge)) as client:
        r = await client.post("/ask", json={"question": "Do you use cookies?"})
        text = await r.text()
    assert r.status == 500
    assert r.headers["Content-Type"].startswith("application/json")
    body = await r.json()
    assert body == {"error": "internal error", "request_id": r.headers["X-Request-Id"]}
    assert "Traceback" not in text and "secret" not in text


async def test_request_id_is_echoed_only_when_safe(serve: Serve) -> None:
    async with serve() as client:
        given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
        evil = await client.get("/healthz", headers={"X-Request-Id": "<script>" + "x" * 100})
        fresh = await client.get("/healthz")
    assert given.headers["X-Request-Id"] == "abc-123"
    assert evil.headers["X-Request-Id"] != fresh.headers["X-Request-Id"]
    assert "<" not in evil.headers["X-Request-Id"]
    assert given.headers["Server"] == "privacybot"


async def test_metrics_are_prometheus_text(serve: Serve) -> None:
    async with serve() as client:
        await client.post("/ask", json={"question": "How do I delete my data?"})
        await client.post("/ask", json={"question": "what is the weather in Vejle tomorrow"})
        await client.post("/ask", data=b"nope")
        r = await client.get("/metrics")
        text = await r.text()
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    expected = [
        'privacybot_http_requests_total{method="POST",route="/ask",status="200"} 2.0',
        'privacybot_http_requests_total{method="POST",route="/ask",status="400"} 1.0',
        'privacybot_answers_total{channel="web",outcome="answered"} 1.0',
        'privacybot_answers_total{channel="web",outcome="abstained"} 1.0',
        'privacybot_http_request_duration_seconds_bucket{le="0.05",route="/ask"} 3.0',
        'privacybot_answer_duration_seconds_count{channel="web"} 2.0',
        "# TYPE privacybot_tickets_total counter",
        "# TYPE privacybot_email_actions_total counter",
        "privacybot_policy_info{",
    ]
    for line in expected:
        assert line in text


async def test_healthz_and_readyz(serve: Serve, tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "own.sqlite3")
    await store.migrate()
    async with serve(store=store) as client:
        assert (await client.get("/healthz")).status == 200
        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (200, {"status": "ready", "store": "sqlite"})
        await store.close()  # the database goes away: live, but not ready
        assert (await client.get("/healthz")).status == 200
        gone = await client.get("/readyz")
        assert gone.status == 503
        assert await gone.json() == {"status": "unavailable", "store": "sqlite"}


async def test_the_app_opens_migrates_and_closes_its_own_store(
    serve: Serve, tmp_path: Path
) -> None:
    async with serve() as client:
        assert (await client.get("/readyz")).status == 200
        store = client.app[STORE] if client.app is not None else None
    assert (tmp_path / "privacybot.sqlite3").exists()
    assert store is not None
    with pytest.raises(Exception, match="closed"):
        await store.ping()


async def test_declined_and_unsure_questions_are_kept_as_gaps(serve: Serve, tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "gaps.sqlite3")
    await store.migrate()
    try:
        async with serve(store=store) as client:
            declined = "Can jane.doe@example.com call +45 12 34 56 78 about the weather in Vejle?"
            r = await client.post("/ask", json={"question": declined})
            assert (await r.json())["answered"] is False
            await client.post("/ask", json={"question": "How do I delete my data?"})
        gaps = await store.list_gaps(datetime.now(UTC) - timedelta(minutes=5))
    finally:
        await store.close()
    assert [g.text for g in gaps] == [
        "Can j***@example.com call [number] about the weather in Vejle?"
    ]
    assert gaps[0].lang == "en" and gaps[0].score < 0.5


async def test_gaps_are_written_in_the_background_and_drained_at_shutdown(serve: Serve) -> None:
    async with serve() as client:
        questions = [f"what is the weather in Vejle on day {i}" for i in range(30)]
        bodies = await asyncio.gather(*(ask(client, q) for q in questions))
        app = client.app
        assert app is not None
    assert not any(b["answered"] for b in bodies)
    # leaving stopped the app, which waited for the queued gaps to be written
    stored = 'privacybot_knowledge_gaps_total{outcome="stored"} 30.0'
    assert stored in app[METRICS].render().decode()


def raw_mail(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane Doe <jane.doe@example.com>"
    msg["To"] = "privacy@ciemtech.com"
    msg["Subject"] = "A question"
    msg["Message-ID"] = "<q1@example.com>"
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0000"
    msg.set_content(body)
    return msg.as_bytes()


async def test_inbound_email_is_mounted_with_a_secret(serve: Serve) -> None:
    async with serve() as client:
        assert (await client.post("/inbound/email", data=raw_mail("hi"))).status == 404
    async with serve({"INBOUND_SECRET": "in-secret"}) as client:
        refused = await client.post("/inbound/email", data=raw_mail("hi"))
        r = await client.post(
            "/inbound/email", data=raw_mail("How long do you keep my data?"),
            headers={"Authorization": "Bearer in-secret"},
        )  # fmt: skip
        outcome = await r.json()
        metrics = await (await client.get("/metrics")).text()
    assert refused.status == 401
    assert r.status == 200 and outcome["action"] in {"reply", "ignore", "ticket"}
    assert f'privacybot_email_actions_total{{action="{outcome["action"]}"}} 1.0' in metrics


async def test_slack_events_are_mounted_when_slack_uses_http(serve: Serve) -> None:
    slack = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "sign",
             "SLACK_API_URL": "http://127.0.0.1:9/api/"}  # fmt: skip
    async with serve(slack) as client:
        unsigned = await client.post("/slack/events", data=b'{"type": "url_verification"}')
    async with serve({**slack, "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "xapp-1"}) as client:
        socket_only = await client.post("/slack/events", data=b"{}")
    assert unsigned.status == 401  # mounted: bolt refuses the missing signature
    assert socket_only.status == 404  # Socket Mode only: the worker talks to Slack
