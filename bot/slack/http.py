"""POST /slack/events: Slack's HTTP requests (events, commands, buttons, modals) into bolt."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

SLACK_HANDLER = web.AppKey("slack_handler", AsyncApp)


async def slack_events(request: web.Request) -> web.Response:
    """Hand one signed request to the bolt app stored under SLACK_HANDLER.

    Bolt's request verification answers 401 to a bad signature and to a timestamp more than
    five minutes off; its URL-verification and ssl-check handling answer Slack's probes.
    """
    app = request.app.get(SLACK_HANDLER)
    if app is None:
        raise web.HTTPNotFound(text="Slack is not configured")
    bolt_response = await app.async_dispatch(await to_bolt_request(request))
    return await to_aiohttp_response(bolt_response)
