"""Socket Mode: the worker's Slack connection when it has no public URL (SLACK_APP_TOKEN)."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.errors import ConfigError

log = logging.getLogger("bot.slack")


async def check_bot_token(app: AsyncApp) -> str:
    """The bot's user id (auth.test); a refused SLACK_BOT_TOKEN raises ConfigError."""
    try:
        response = await app.client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "refused")
        raise ConfigError(f"SLACK_BOT_TOKEN was refused by Slack ({error})") from None
    return str(response.get("user_id", ""))


async def run_socket_mode(app: AsyncApp, app_token: str, stop: asyncio.Event) -> None:
    """Check both tokens, connect (apps.connections.open, then the WebSocket), serve until
    `stop`, disconnect. A refused token raises ConfigError naming its variable."""
    await check_bot_token(app)
    handler = AsyncSocketModeHandler(app, app_token)
    try:
        try:
            opened = await app.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            error = exc.response.get("error", "refused")
            raise ConfigError(f"SLACK_APP_TOKEN was refused by Slack ({error})") from None
        handler.client.wss_uri = str(opened["url"])
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack socket mode connected")
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        log.info("slack socket mode closed")
