"""The Slack door end to end: real bolt app, signed HTTP requests, a recording Web API, Socket Mode."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from bot.brain import Brain
from bot.config import Settings, SlackSettings
from bot.errors import ConfigError
from bot.mailer import Mailer
from bot.metrics import Metrics
from bot.slack.app import build_slack_app
from bot.slack.http import SLACK_HANDLER, slack_events
from bot.slack.socket import run_socket_mode
from bot.store import Store
from bot.store.sqlite import SqliteStore
from bot.tickets import TicketService
from tests.slack_api import APP_TOKEN, BOT_TOKEN, BOT_USER, TEAM, FakeSlack, fake_slack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
STAFF = "U0SUPPORT"
CHANNEL = "C0SUPPORT"


# -- signed requests -------------------------------------------------------------------------


def signed(body: str, *, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 of "v0:{timestamp}:{body}" with the signing secret."""
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def event_body(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0PRIVACY", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}  # fmt: skip


def mention(text: str, *, ts: str = "1760000000.000100", channel: str = CHANNEL,
            event_id: str = "Ev0MENTION1", **extra: Any) -> dict[str, Any]:  # fmt: skip
    event = {"type": "app_mention", "user": STAFF, "text": f"<@{BOT_USER}> {text}", "ts": ts,
             "channel": channel, "event_ts": ts, **extra}  # fmt: skip
    return event_body(event, event_id)


def dm(text: str, *, event_id: str = "Ev0DM1", **extra: Any) -> dict[str, Any]:
    event = {"type": "message", "channel_type": "im", "channel": "D0STAFF", "user": STAFF,
             "text": text, "ts": "1760000001.000200", "event_ts": "1760000001.000200", **extra}  # fmt: skip
    return event_body(event, event_id)


@dataclass
class Door:
    """The bolt app mounted at /slack/events of a real aiohttp server, and its Web API."""

    http: TestClient[web.Request, web.Application]
    api: FakeSlack
    store: Store
    bolt: AsyncApp

    async def post(self, body: str, content_type: str, **headers: str) -> ClientResponse:
        sent = {"Content-Type": content_type, **signed(body), **headers}
        return await self.http.post("/slack/events", data=body.encode(), headers=sent)

    async def event(self, payload: dict[str, Any], **headers: str) -> ClientResponse:
        return await self.post(json.dumps(payload), "application/json", **headers)

    async def form(self, fields: dict[str, str]) -> ClientResponse:
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded")

    async def interaction(self, payload: dict[str, Any]) -> ClientResponse:
        return await self.form({"payload": json.dumps(payload)})


async def settle(timeout: float = 10.0) -> None:
    """Wait until bolt's lazy listeners (tasks running `to_runnable_function`) have finished."""
    current = asyncio.current_task()
    async with asyncio.timeout(timeout):
        while True:
            lazy = [t for t in asyncio.all_tasks() if t is not current and not t.done()
                    and getattr(t.get_coro(), "__qualname__", "") == "to_runnable_function"]  # fmt: skip
            if not lazy:
                return
            await asyncio.wait(lazy)


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as fake:
        yield fake


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = SqliteStore(tmp_path / "privacybot.sqlite3")
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


def slack_settings(api: FakeSlack, **changes: Any) -> SlackSettings:
    base = {"bot_token": BOT_TOKEN, "signing_secret": SECRET, "app_token": APP_TOKEN,
            "api_url": api.url, "channels": frozenset(), "escalation_channel": "C0PRIVTEAM"}  # fmt: skip
    return SlackSettings(**{**base, **changes})


@pytest.fixture
def tickets(tmp_path: Path, store: Store, brain: Brain) -> TicketService:
    settings = Settings(data_dir=tmp_path)  # no SMTP_URL: mail is written to the outbox folder
    return TicketService(store, Mailer(settings, store), brain, settings)


async def open_door(api: FakeSlack, store: Store, brain: Brain, tickets: TicketService,
                    metrics: Metrics | None = None, **changes: Any) -> AsyncIterator[Door]:  # fmt: skip
    bolt = build_slack_app(slack_settings(api, **changes), brain, tickets, store, metrics)
    app = web.Application()
    app[SLACK_HANDLER] = bolt
    app.router.add_post("/slack/events", slack_events)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        yield Door(http, api, store, bolt)
        await settle()


@pytest.fixture
async def door(slack_api: FakeSlack, store: Store, brain: Brain,
               tickets: TicketService) -> AsyncIterator[Door]:  # fmt: skip
    async for opened in open_door(slack_api, store, brain, tickets):
        yield opened


def texts(blocks: list[dict[str, Any]]) -> str:
    """All visible text of some blocks, joined."""
    return json.dumps(blocks, ensure_ascii=False)


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return dict(element)
    raise AssertionError(f"no {action_id} button")


def block_action(api: FakeSlack, element: dict[str, Any], *, block_id: str = "privacy_actions.en",
                 message: dict[str, Any] | None = None, ephemeral: bool = False) -> dict[str, Any]:  # fmt: skip
    action = {"type": "button", "action_id": element["action_id"], "block_id": block_id,
              "value": element["value"], "action_ts": "1760000100.1"}  # fmt: skip
    container = {"type": "message", "channel_id": CHANNEL, "is_ephemeral": ephemeral}
    if message:
        container["message_ts"] = message["ts"]
    payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": STAFF},
               "api_app_id": "A0PRIVACY", "token": "legacy", "container": container,
               "trigger_id": "1337.42.trigger", "channel": {"id": CHANNEL},
               "response_url": api.response_url("action"), "actions": [action]}  # fmt: skip
    if message:
        payload["message"] = message
    return payload


# -- HTTP events -----------------------------------------------------------------------------


def test_signature_matches_slack_sdk() -> None:
    body, headers = '{"a":1}', signed('{"a":1}', ts=1_700_000_000)
    expected = SignatureVerifier(SECRET).generate_signature(timestamp="1700000000", body=body)
    assert headers["X-Slack-Signature"] == expected


async def test_mention_is_answered_once_in_its_thread(door: Door) -> None:
    response = await door.event(mention("Can I get my personal data deleted?"))
    assert response.status == 200
    [call] = await door.api.wait_for("chat.postMessage")
    await settle()
    assert len(door.api.called("chat.postMessage")) == 1
    args = call.args
    assert args["channel"] == CHANNEL and args["thread_ts"] == "1760000000.000100"
    assert call.token == BOT_TOKEN
    shown = texts(args["blocks"])
    assert "§ 5.3" in shown  # the section number
    assert "<mailto:privacy@ciemtech.com|privacy@ciemtech.com>" in shown  # the route
    assert button(args["blocks"], "full_clause")["value"] == "5.3"
    assert button(args["blocks"], "escalate")


async def test_unsigned_and_stale_requests_are_refused(door: Door) -> None:
    body = json.dumps(mention("hvordan sletter jeg mine data?"))
    plain = await door.http.post("/slack/events", data=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert plain.status == 401
    stale = signed(body, ts=int(time.time()) - 301)
    old = await door.http.post("/slack/events", data=body,
                               headers={"Content-Type": "application/json", **stale})  # fmt: skip
    assert old.status == 401
    forged = signed(body, secret="not-the-secret")
    bad = await door.http.post("/slack/events", data=body,
                               headers={"Content-Type": "application/json", **forged})  # fmt: skip
    assert bad.status == 401
    tampered = signed(body)
    changed = await door.http.post("/slack/events", data=body.replace("slet", "vis"),
                                   headers={"Content-Type": "application/json", **tampered})  # fmt: skip
    assert changed.status == 401
    await settle()
    assert door.api.called("chat.postMessage") == []


async def test_url_verification_challenge(door: Door) -> None:
    response = await door.event({"type": "url_verification", "challenge": "c-123", "token": "x"})
    assert response.status == 200
    assert (await response.json())["challenge"] == "c-123"


async def test_a_retry_is_not_answered_twice(door: Door) -> None:
    payload = mention("What cookies do you use?", event_id="Ev0RETRY")
    assert (await door.event(payload)).status == 200
    await door.api.wait_for("chat.postMessage")
    retry = await door.event(payload, **{"X-Slack-Retry-Num": "1",
                                         "X-Slack-Retry-Reason": "http_timeout"})  # fmt: skip
    assert retry.status == 200
    assert retry.headers.get("X-Slack-No-Retry") == "1"
    await settle()
    assert len(door.api.called("chat.postMessage")) == 1


async def test_simultaneous_retries_give_one_answer(door: Door) -> None:
    payload = mention("What cookies do you use?", event_id="Ev0RACE")
    headers = [{}, {"X-Slack-Retry-Num": "1"}, {"X-Slack-Retry-Num": "2"}]
    responses = await asyncio.gather(*(door.event(payload, **h) for h in headers))
    assert [r.status for r in responses] == [200, 200, 200]
    await door.api.wait_for("chat.postMessage")
    await settle()
    assert len(door.api.called("chat.postMessage")) == 1


async def test_direct_message_is_answered_and_bots_are_ignored(door: Door) -> None:
    await door.event(dm("hej, bot", event_id="Ev0BOT", bot_id="B0OTHER"))
    await door.event(dm("edited", event_id="Ev0EDIT", subtype="message_changed"))
    await door.event(dm("mine", event_id="Ev0SELF", user=BOT_USER))
    await door.event(dm("Hvordan trækker jeg mit samtykke tilbage?", event_id="Ev0DM"))
    [call] = await door.api.wait_for("chat.postMessage")
    await settle()
    assert len(door.api.called("chat.postMessage")) == 1
    assert call.args["channel"] == "D0STAFF" and "thread_ts" not in call.args
    assert "Hele afsnittet" in texts(call.args["blocks"])  # answered in Danish


async def test_channel_allow_list(slack_api: FakeSlack, store: Store, brain: Brain,
                                  tickets: TicketService) -> None:  # fmt: skip
    async for door in open_door(slack_api, store, brain, tickets, channels=frozenset({"C0OK"})):
        await door.event(mention("delete my data?", channel="C0ELSEWHERE", event_id="Ev0NO"))
        await door.event(mention("delete my data?", channel="C0OK", event_id="Ev0YES"))
        [call] = await door.api.wait_for("chat.postMessage")
        await settle()
        assert call.args["channel"] == "C0OK"
        assert len(door.api.called("chat.postMessage")) == 1


async def test_slash_command_answers_ephemerally(door: Door) -> None:
    response = await door.form({
        "command": "/privacy", "text": "how long do you keep my data?", "user_id": STAFF,
        "team_id": TEAM, "channel_id": CHANNEL, "channel_name": "support",
        "trigger_id": "1.2.3", "response_url": door.api.response_url("cmd"), "token": "legacy",
    })  # fmt: skip
    assert response.status == 200 and await response.text() == ""
    [call] = await door.api.wait_for("response")
    assert call.path == "/response/cmd"
    assert call.args["response_type"] == "ephemeral"
    assert (
        button(call.args["blocks"], "share_in_channel")["value"] == "how long do you keep my data?"
    )
    assert "§ 12" in texts(call.args["blocks"])
    await settle()
    assert door.api.called("chat.postMessage") == [] and door.api.called("chat.postEphemeral") == []


async def test_share_in_channel_posts_the_answer_for_everyone(door: Door) -> None:
    element = {"action_id": "share_in_channel", "value": "what is a cookie?"}
    await door.interaction(block_action(door.api, element, ephemeral=True))
    [call] = await door.api.wait_for("response")
    assert call.args["response_type"] == "in_channel" and call.args["delete_original"] is True
    assert f"<@{STAFF}>" in texts(call.args["blocks"])


async def test_full_clause_posts_the_whole_section_in_the_thread(door: Door, brain: Brain) -> None:
    message = {"type": "message", "ts": "1760000000.000900", "thread_ts": "1760000000.000100"}
    element = {"action_id": "full_clause", "value": "9"}
    assert (await door.interaction(block_action(door.api, element, message=message))).status == 200
    [call] = await door.api.wait_for("chat.postMessage")
    assert call.args["thread_ts"] == "1760000000.000100"
    shown = texts(call.args["blocks"])
    section = brain.knowledge.policy.section("9")
    assert len(call.args["blocks"]) >= len(section.paragraphs)
    assert "Cookies and other tracking technologies" in shown
    assert "AboutCookie.org" in shown


# -- escalation ------------------------------------------------------------------------------


async def escalate_from_answer(door: Door, question: str, event_id: str) -> dict[str, Any]:
    """Ask by mention, click the answer's Escalate button; returns the opened view."""
    await door.event(mention(question, event_id=event_id))
    [answer] = await door.api.wait_for("chat.postMessage")
    message = {"type": "message", "ts": "1760000000.000500", "thread_ts": "1760000000.000100",
               "bot_id": "B0PRIVBOT", "blocks": answer.args["blocks"]}  # fmt: skip
    element = button(answer.args["blocks"], "escalate")
    response = await door.interaction(block_action(door.api, element, message=message))
    assert response.status == 200
    [opened] = await door.api.wait_for("views.open")
    assert opened.args["trigger_id"] == "1337.42.trigger"
    return dict(opened.args["view"])


def submission(view: dict[str, Any], *, email: str | None, kind: str | None = None,
               text: str | None = None, notes: str | None = None) -> dict[str, Any]:  # fmt: skip
    blocks = {b["block_id"]: b["element"] for b in view["blocks"]}
    chosen = kind or blocks["kind"]["initial_option"]["value"]
    values = {
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": chosen}}},
        "text": {"text": {"type": "plain_text_input",
                          "value": text if text is not None else blocks["text"]["initial_value"]}},
        "email": {"email": {"type": "email_text_input", "value": email}},
        "notes": {"notes": {"type": "plain_text_input", "value": notes}},
    }  # fmt: skip
    return {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": STAFF},
            "api_app_id": "A0PRIVACY", "token": "legacy", "trigger_id": "9.9.9",
            "view": {**view, "id": "V0000001", "state": {"values": values}}}  # fmt: skip


async def test_escalate_button_opens_a_prefilled_modal(door: Door) -> None:
    question = "Please delete all my data, my address is kunde@example.dk"
    view = await escalate_from_answer(door, question, "Ev0ESC1")
    blocks = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert view["type"] == "modal" and view["callback_id"] == "privacy_escalate"
    assert blocks["kind"]["initial_option"]["value"] == "erasure"
    assert len(blocks["kind"]["options"]) == 8
    assert blocks["text"]["initial_value"] == question
    assert blocks["email"]["initial_value"] == "kunde@example.dk"


async def test_submission_creates_one_ticket_and_posts_its_id(door: Door) -> None:
    view = await escalate_from_answer(door, "Please delete all my data.", "Ev0ESC2")
    payload = submission(view, email="kunde@example.dk", notes="Customer phoned us as well.")
    first = await door.interaction(payload)
    assert first.status == 200 and await first.text() == ""  # the modal closes
    posts = await door.api.wait_for("chat.postMessage", 3)  # answer, thread reply, announcement
    await settle()
    stored = await door.store.list_tickets()
    assert len(stored) == 1
    ticket = stored[0]
    assert ticket.kind == "erasure" and ticket.channel == "slack"
    assert ticket.requester == "kunde@example.dk"
    assert ticket.source_message_id == f"slack:{TEAM}:{CHANNEL}:1760000000.000100"
    assert "Customer phoned us as well." in ticket.original_text
    reply = posts[1].args
    assert reply["thread_ts"] == "1760000000.000100" and reply["channel"] == CHANNEL
    assert ticket.id in reply["text"] and ticket.due_date.isoformat() in reply["text"]
    assert posts[2].args["channel"] == "C0PRIVTEAM" and ticket.id in posts[2].args["text"]
    # a second click and submission of the same escalation gives no second ticket
    again = await door.interaction(submission(view, email="kunde@example.dk"))
    assert again.status == 200
    posts = await door.api.wait_for("chat.postMessage", 4)
    await settle()
    assert len(await door.store.list_tickets()) == 1
    assert "Already escalated" in posts[3].args["text"] and ticket.id in posts[3].args["text"]
    assert len(door.api.called("chat.postMessage")) == 4  # no second announcement


async def test_duplicate_simultaneous_submissions_give_one_ticket(door: Door) -> None:
    view = await escalate_from_answer(door, "I object to you processing my data", "Ev0ESC3")
    payload = submission(view, email="a@example.com")
    responses = await asyncio.gather(*(door.interaction(payload) for _ in range(3)))
    assert all(r.status == 200 for r in responses)
    await door.api.wait_for("chat.postMessage", 5)  # answer, 3 thread replies, 1 announcement
    await settle()
    assert len(await door.store.list_tickets()) == 1
    assert (
        len([c for c in door.api.called("chat.postMessage") if c.args["channel"] == "C0PRIVTEAM"])
        == 1
    )


async def test_invalid_submission_keeps_the_modal_open(door: Door) -> None:
    view = await escalate_from_answer(door, "Please delete my data.", "Ev0ESC4")
    response = await door.interaction(submission(view, email="not-an-address", text=" "))
    body = await response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"email", "text"}
    await settle()
    assert await door.store.list_tickets() == []


async def test_slash_escalate_uses_the_slack_profile_when_no_email(door: Door) -> None:
    door.api.users[STAFF] = {"id": STAFF, "real_name": "Sara Support",
                             "profile": {"real_name": "Sara Support", "email": "sara@ciemtech.com"}}  # fmt: skip
    await door.form({
        "command": "/privacy", "text": "escalate I want a copy of all data you hold about me",
        "user_id": STAFF, "team_id": TEAM, "channel_id": CHANNEL, "channel_name": "support",
        "trigger_id": "5.5.5", "response_url": door.api.response_url("esc"), "token": "legacy",
    })  # fmt: skip
    [opened] = await door.api.wait_for("views.open")
    view = opened.args["view"]
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "access"
    await door.interaction(submission(view, email=None))
    [told] = await door.api.wait_for("response")
    await settle()
    [ticket] = await door.store.list_tickets()
    assert ticket.requester == "sara@ciemtech.com" and ticket.requester_name == "Sara Support"
    assert ticket.kind == "access" and ticket.id in told.args["text"]
    assert told.path == "/response/esc" and told.args["response_type"] == "ephemeral"


async def slash_escalate(door: Door, text: str, trigger: str) -> dict[str, Any]:
    """/privacy escalate <text>; returns the modal it opened."""
    before = len(door.api.called("views.open"))
    await door.form({
        "command": "/privacy", "text": f"escalate {text}", "user_id": STAFF, "team_id": TEAM,
        "channel_id": CHANNEL, "channel_name": "support", "trigger_id": trigger,
        "response_url": door.api.response_url("esc"), "token": "legacy",
    })  # fmt: skip
    opened = await door.api.wait_for("views.open", before + 1)
    return dict(opened[before].args["view"])


async def test_slash_escalations_are_one_ticket_per_requester(door: Door) -> None:
    text = "Please delete all data you hold about me"
    first = await slash_escalate(door, text, "6.6.1")
    second = await slash_escalate(door, text, "6.6.2")  # same agent, same words, next customer
    payloads = [submission(first, email="anna@example.com"),
                submission(second, email="bo@example.com"),
                submission(first, email="Anna@example.com")]  # fmt: skip  # a double submission
    responses = await asyncio.gather(*(door.interaction(p) for p in payloads))
    assert all(r.status == 200 for r in responses)
    told = await door.api.wait_for("response", 3)
    await settle()
    stored = await door.store.list_tickets()
    assert sorted(t.requester.lower() for t in stored) == ["anna@example.com", "bo@example.com"]
    assert len({t.source_message_id for t in stored}) == 2
    assert sum("Already escalated" in c.args["text"] for c in told) == 1
    announced = [
        c for c in door.api.called("chat.postMessage") if c.args["channel"] == "C0PRIVTEAM"
    ]
    assert len(announced) == 2


async def test_declined_slack_questions_are_kept_as_gaps(slack_api: FakeSlack, store: Store,
                                                         brain: Brain, tickets: TicketService) -> None:  # fmt: skip
    metrics = Metrics()
    since = datetime.now(UTC) - timedelta(minutes=5)
    async for door in open_door(slack_api, store, brain, tickets, metrics):
        declined = "Can jane.doe@example.com call +45 12 34 56 78 about the weather in Vejle?"
        await door.event(mention(declined, event_id="Ev0GAP1"))
        await door.event(mention("Can I get my personal data deleted?", event_id="Ev0GAP2",
                                 ts="1760000000.000200"))  # fmt: skip
        await door.api.wait_for("chat.postMessage", 2)
        await settle()
    gaps = await store.list_gaps(since)
    assert [g.text for g in gaps] == [
        "Can j***@example.com call [number] about the weather in Vejle?"
    ]
    assert gaps[0].lang == "en" and gaps[0].score < 0.5
    shown = metrics.render().decode()
    assert 'privacybot_knowledge_gaps_total{outcome="stored"} 1.0' in shown
    assert 'privacybot_answers_total{channel="slack",outcome="abstained"} 1.0' in shown


# -- start-up errors and Socket Mode ---------------------------------------------------------


async def test_socket_mode_receives_an_event_and_acks_it(
    slack_api: FakeSlack,
    store: Store,
    brain: Brain,
    tickets: TicketService,
) -> None:
    bolt = build_slack_app(slack_settings(slack_api, signing_secret=None), brain, tickets, store)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_socket_mode(bolt, APP_TOKEN, stop))
    async with asyncio.timeout(10):
        await slack_api.connected.wait()
    payload = mention("Do you sell my data?", event_id="Ev0SOCKET")
    await slack_api.push({"envelope_id": "env-1", "type": "events_api", "payload": payload,
                          "accepts_response_payload": False, "retry_attempt": 0,
                          "retry_reason": ""})  # fmt: skip
    async with asyncio.timeout(10):
        ack = await slack_api.socket_messages.get()
    assert ack["envelope_id"] == "env-1"
    [call] = await slack_api.wait_for("chat.postMessage")
    assert call.args["thread_ts"] == "1760000000.000100"
    # Slack re-delivers the envelope: acknowledged, not answered again
    await slack_api.push({"envelope_id": "env-2", "type": "events_api", "payload": payload,
                          "accepts_response_payload": False, "retry_attempt": 1,
                          "retry_reason": "timeout"})  # fmt: skip
    async with asyncio.timeout(10):
        assert (await slack_api.socket_messages.get())["envelope_id"] == "env-2"
    await settle()
    stop.set()
    await asyncio.wait_for(runner, 10)
    assert len(slack_api.called("chat.postMessage")) == 1
    assert [c.token for c in slack_api.called("apps.connections.open")] == [APP_TOKEN]


async def test_socket_mode_with_a_wrong_app_token_fails_clearly(
    slack_api: FakeSlack,
    store: Store,
    brain: Brain,
    tickets: TicketService,
) -> None:
    bolt = build_slack_app(slack_settings(slack_api), brain, tickets, store)
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        await run_socket_mode(bolt, "xapp-wrong", asyncio.Event())
    wrong_bot = build_slack_app(
        slack_settings(slack_api, bot_token="xoxb-wrong"), brain, tickets, store
    )
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        await run_socket_mode(wrong_bot, APP_TOKEN, asyncio.Event())


async def test_no_signing_secret_refuses_every_http_request(
    slack_api: FakeSlack,
    store: Store,
    brain: Brain,
    tickets: TicketService,
) -> None:
    async for door in open_door(slack_api, store, brain, tickets, signing_secret=None):
        body = json.dumps(mention("delete my data"))
        for secret in ("", SECRET):
            sent = {"Content-Type": "application/json", **signed(body, secret=secret)}
            assert (await door.http.post("/slack/events", data=body, headers=sent)).status == 401


async def test_events_endpoint_without_slack_is_404() -> None:
    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        assert (await http.post("/slack/events", data="{}")).status == 404


# -- acknowledgement latency -----------------------------------------------------------------


async def test_ack_latency(door: Door) -> None:
    """Signed request to 200 response, while the answers are composed and posted lazily."""
    questions = ["delete my data", "what cookies do you use?", "hvem deler I mine data med?",
                 "how do I unsubscribe from marketing?", "is my data stored outside the EU?"]  # fmt: skip
    latencies = []
    for n in range(200):
        body = json.dumps(mention(questions[n % len(questions)], event_id=f"Ev0LAT{n:04d}",
                                  ts=f"1760001000.{n:06d}"))  # fmt: skip
        headers = {"Content-Type": "application/json", **signed(body)}
        start = time.perf_counter()
        response = await door.http.post("/slack/events", data=body, headers=headers)
        latencies.append(time.perf_counter() - start)
        assert response.status == 200
    await door.api.wait_for("chat.postMessage", 200, timeout=60)
    await settle()
    cuts = statistics.quantiles(latencies, n=100)
    p50, p99 = statistics.median(latencies), cuts[98]
    print(f"\nslack ack latency over {len(latencies)} signed requests: "
          f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")  # fmt: skip
    assert p99 < 3.0  # Slack's limit for an acknowledgement
