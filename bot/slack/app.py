"""The bolt AsyncApp: mentions, DMs, /privacy, buttons and the escalation modal, acked at once."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import (
    AsyncAck,
    AsyncApp,
    AsyncBoltContext,
    AsyncBoltRequest,
    AsyncRespond,
)
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.answer import Answer
from bot.brain import Brain, Message
from bot.config import SlackSettings
from bot.gaps import is_gap, keep_gap
from bot.metrics import Metrics
from bot.slack import blocks as bk
from bot.slack.escalation import (
    CALLBACK_ID,
    Origin,
    Submission,
    message_source,
    modal,
    read_submission,
    text_source,
)
from bot.store import Store
from bot.tickets import TicketService

log = logging.getLogger("bot.slack")

Payload = dict[str, Any]
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_USAGE = bk.label("en", "usage")


def build_slack_app(
    settings: SlackSettings,
    brain: Brain,
    tickets: TicketService,
    store: Store,
    metrics: Metrics | None = None,
) -> AsyncApp:
    """The Slack door. Every listener acks first; answering and ticketing run lazily."""
    app = AsyncApp(
        name="privacybot",
        client=AsyncWebClient(token=settings.bot_token, base_url=settings.api_url),
        # No secret (Socket Mode only): a random one, so no HTTP request can ever verify.
        signing_secret=settings.signing_secret or secrets.token_hex(32),
        request_verification_enabled=True,
        process_before_response=True,
    )
    door = SlackDoor(settings, brain, tickets, store, metrics)
    app.use(door.dedupe)
    app.event("app_mention")(ack=_ack, lazy=[door.on_mention])
    app.event("message", matchers=[_plain_dm])(ack=_ack, lazy=[door.on_dm])
    app.event("message")(_ack)  # edits, joins, bots, channels: acknowledged and ignored
    app.command("/privacy")(ack=_ack, lazy=[door.on_command])
    app.action(bk.FULL_CLAUSE)(ack=_ack, lazy=[door.on_full_clause])
    app.action(bk.ESCALATE)(ack=_ack, lazy=[door.on_escalate])
    app.action(bk.SHARE)(ack=_ack, lazy=[door.on_share])
    app.view(CALLBACK_ID)(ack=door.ack_submission, lazy=[door.on_submission])
    return app


async def _ack(ack: AsyncAck) -> None:
    await ack()


async def _plain_dm(event: Payload) -> bool:
    return event.get("channel_type") == "im" and _from_person(event)


def _from_person(event: Payload) -> bool:
    """A person's own new message: not a bot's, not an edit, join or other subtype."""
    return not (event.get("bot_id") or event.get("subtype") or event.get("bot_profile"))


class SlackDoor:
    """The listeners, sharing the core, the ticket service and the event store."""

    def __init__(
        self,
        settings: SlackSettings,
        brain: Brain,
        tickets: TicketService,
        store: Store,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.brain = brain
        self.knowledge = brain.knowledge
        self.tickets = tickets
        self.store = store

    async def dedupe(
        self, body: Payload, req: AsyncBoltRequest, next_: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Acknowledge a repeated event (Slack's retries, same event_id) without handling it."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and not await self._first_time(event_id):
            retry = req.headers.get("x-slack-retry-num", ["0"])[0]
            log.info("slack event %s seen before (retry %s): not answered again", event_id, retry)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        await next_()
        return None

    async def _first_time(self, event_id: str) -> bool:
        try:
            return await self.store.remember_event(event_id, datetime.now(UTC))
        except Exception:  # the store is down: rather answer twice than not at all
            log.exception("slack: could not record event %s", event_id)
            return True

    def allowed(self, channel: str | None, name: str | None = None) -> bool:
        """Channels on the allow-list (all when it is empty); direct messages always."""
        allow = self.settings.channels
        if not allow or not channel or channel.startswith("D"):
            return True
        return channel in allow or (name is not None and (name in allow or f"#{name}" in allow))

    def _answer(self, text: str, user: str | None) -> Answer:
        started = time.perf_counter()
        answer = self.brain.answer(Message(text, channel="slack", sender=user))
        if self.metrics is not None:
            self.metrics.answer("slack", answer.answered, time.perf_counter() - started)
        return answer

    async def _keep_gap(self, answer: Answer) -> None:
        """A declined or unsure answer, once posted, is kept (masked) as a knowledge gap."""
        if not is_gap(answer):
            return
        outcome = await keep_gap(self.store, answer.question, answer.lang, answer.confidence)
        if self.metrics is not None:
            self.metrics.gaps.labels(outcome).inc()

    async def _reply(self, client: AsyncWebClient, team: str, event: Payload, thread: bool) -> None:
        text = _MENTION.sub(" ", event.get("text") or "").strip()
        channel = event["channel"]
        thread_ts = (event.get("thread_ts") or event["ts"]) if thread else None
        if not text:
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=_USAGE)
            return
        answer = self._answer(text, event.get("user"))
        source = message_source(team, channel, event["ts"])
        await client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=bk.fallback_text(answer),
            blocks=bk.answer_blocks(answer, self.knowledge, source=source),
            unfurl_links=False, unfurl_media=False,
        )  # fmt: skip
        await self._keep_gap(answer)

    async def on_mention(
        self, event: Payload, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        channel = event.get("channel", "")
        if not _from_person(event) or channel.startswith("D") or not self.allowed(channel):
            return  # a DM mention also arrives as message.im and is answered there
        await self._reply(client, context.team_id or "", event, thread=True)

    async def on_dm(
        self, event: Payload, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("user") == context.bot_user_id:
            return
        await self._reply(client, context.team_id or "", event, thread=bool(event.get("thread_ts")))

    async def on_command(
        self, command: Payload, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        text, user = (command.get("text") or "").strip(), command["user_id"]
        if not self.allowed(command.get("channel_id"), command.get("channel_name")):
            await respond(
                text="privacybot is not enabled in this channel.", response_type="ephemeral"
            )
            return
        if not text or text.lower() in ("help", "hjælp"):
            await respond(text=_USAGE, response_type="ephemeral")
            return
        head, _, rest = text.partition(" ")
        source = text_source(command.get("team_id", ""), user, text)
        if head.lower() == "escalate":
            lang = self.brain.detect_language(rest) if rest else "en"
            origin = Origin(text_source(command.get("team_id", ""), user, rest), user, lang,
                            response_url=command.get("response_url"))  # fmt: skip
            await self._open_modal(client, command["trigger_id"], rest, origin)
            return
        answer = self._answer(text, user)
        await respond(
            text=bk.fallback_text(answer), response_type="ephemeral", replace_original=False,
            blocks=bk.answer_blocks(answer, self.knowledge, source=source, share=True),
        )  # fmt: skip
        await self._keep_gap(answer)

    async def _open_modal(self, client: AsyncWebClient, trigger: str, text: str, origin: Origin,
                          kind: str | None = None) -> None:  # fmt: skip
        kind = kind or (self.brain.requests.detect(text).kind if text else None)
        kinds = self.knowledge.kinds.get("en", {})
        await client.views_open(trigger_id=trigger, view=modal(kind, text, origin, kinds))

    async def on_escalate(self, body: Payload, action: Payload, client: AsyncWebClient) -> None:
        try:
            kind, source, text = bk.parse_escalation_value(action.get("value") or "")
        except ValueError:
            log.warning("slack: escalate button with a malformed value")
            return
        message, container = body.get("message") or {}, body.get("container") or {}
        ephemeral = bool(container.get("is_ephemeral"))
        origin = Origin(
            source, body["user"]["id"], bk.action_lang(action), (body.get("channel") or {}).get("id"),
            None if ephemeral else (message.get("thread_ts") or message.get("ts")),
            body.get("response_url") if ephemeral else None,
        )  # fmt: skip
        await self._open_modal(client, body["trigger_id"], text, origin, kind)

    async def on_full_clause(
        self, body: Payload, action: Payload, client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        section_id = action.get("value") or ""
        if section_id not in self.knowledge.policy:
            return
        leaf, lang = self.knowledge.policy.section(section_id), bk.action_lang(action)
        content = bk.clause_blocks(leaf, self.knowledge, lang)
        fallback = bk.clause_text(leaf, self.knowledge, lang)
        message = body.get("message") or {}
        if (body.get("container") or {}).get("is_ephemeral") or not message:
            await respond(text=fallback, blocks=content, response_type="ephemeral",
                          replace_original=False)  # fmt: skip
            return
        await client.chat_postMessage(
            channel=body["channel"]["id"], thread_ts=message.get("thread_ts") or message["ts"],
            text=fallback, blocks=content, unfurl_links=False,
        )  # fmt: skip

    async def on_share(self, body: Payload, action: Payload, respond: AsyncRespond) -> None:
        question, user = action.get("value") or "", body["user"]["id"]
        if not question:
            return
        answer = self._answer(question, user)
        source = text_source((body.get("team") or {}).get("id", ""), user, question)
        shared = [*bk.answer_blocks(answer, self.knowledge, source=source),
                  bk.context(bk.label(answer.lang, "shared", user=user))]  # fmt: skip
        await respond(text=bk.fallback_text(answer), blocks=shared, response_type="in_channel",
                      delete_original=True)  # fmt: skip

    async def ack_submission(self, ack: AsyncAck, view: Payload) -> None:
        result = read_submission(view)
        if isinstance(result, dict):
            await ack(response_action="errors", errors=result)
        else:
            await ack()

    async def on_submission(self, view: Payload, client: AsyncWebClient) -> None:
        result = read_submission(view)
        if isinstance(result, dict):
            return
        origin = result.origin
        try:
            requester, name = await self._requester(client, result)
            ticket, created = await self.tickets.open_ticket(
                kind=result.kind, requester=requester, requester_name=name,
                text=result.ticket_text, channel="slack",
                lang=self.brain.detect_language(result.text, origin.lang),
                subject=f"Slack escalation: {' '.join(result.text.split())[:80]}",
                source_message_id=result.source, received_at=datetime.now(UTC),
            )  # fmt: skip
        except Exception:
            log.exception("slack: creating a ticket failed")
            await self._tell(client, origin, bk.label(origin.lang, "failed"))
            return
        kind = self.knowledge.kinds.get(origin.lang, {}).get(ticket.kind, ticket.kind)
        due = ticket.due_date.isoformat()
        key = "ticket_new" if created else "ticket_old"
        await self._tell(
            client, origin, bk.label(origin.lang, key, id=ticket.id, kind=kind, due=due)
        )
        if created and self.settings.escalation_channel:
            text = bk.label(
                "en", "announce", id=ticket.id, kind=ticket.kind, due=due, user=origin.user
            )
            await client.chat_postMessage(channel=self.settings.escalation_channel, text=text)

    async def _requester(self, client: AsyncWebClient, sub: Submission) -> tuple[str, str | None]:
        """The email typed in, else the Slack user's profile email (users:read.email), else the user."""
        if sub.email:
            return sub.email, None
        profile: Payload = {}
        try:
            info = await client.users_info(user=sub.origin.user)
            profile = (info.get("user") or {}).get("profile") or {}
        except Exception:  # the optional scope may be missing: the user id will do
            log.info("slack: users.info failed for %s", sub.origin.user)
        name = profile.get("real_name") or None
        return profile.get("email") or f"slack:{sub.origin.user}", name

    async def _tell(self, client: AsyncWebClient, origin: Origin, text: str) -> None:
        """The outcome of an escalation: in its thread, to the slash command, or by DM."""
        if origin.channel and origin.thread_ts:
            await client.chat_postMessage(
                channel=origin.channel, thread_ts=origin.thread_ts, text=text
            )
        elif origin.response_url:
            hook = AsyncWebhookClient(origin.response_url)
            await hook.send(text=text, response_type="ephemeral", replace_original=False)
        else:
            await client.chat_postMessage(channel=origin.user, text=text)
