"""A recording stand-in for Slack's Web API, response URLs and Socket Mode, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
TEAM = "T0CIEMTECH"
BOT_USER = "U0PRIVBOT"
BOT_ID = "B0PRIVBOT"


@dataclass(frozen=True)
class Call:
    """One request the bot made: a Web API method, or `response` for a response_url post."""

    method: str
    args: dict[str, Any]
    token: str | None
    path: str


class FakeSlack:
    """auth.test, chat.postMessage, chat.postEphemeral, views.open, users.info,
    apps.connections.open (handing out this server's WebSocket), and response URLs."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.socket_messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sockets: list[web.WebSocketResponse] = []
        self.connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle
    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # users.info and other reads use GET
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    # -- what was called
    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """The first `count` calls of `method`, waiting for them to arrive."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.called(method)) >= count)
        return self.called(method)[:count]

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    # -- handlers
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        await self._record(Call(method, args, token, request.path))
        return web.json_response(self._reply(method, args, token))

    def _reply(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == "apps.connections.open":
            if token != APP_TOKEN:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if token != BOT_TOKEN:
            return {"ok": False, "error": "invalid_auth"}
        ts = f"{int(time.time())}.{next(self._seq):06d}"
        if method == "auth.test":
            return {"ok": True, "url": "https://ciemtech.slack.com/", "team": "CiemTech",
                    "user": "privacybot", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                    "is_enterprise_install": False}  # fmt: skip
        if method == "chat.postMessage":
            message = {"type": "message", "ts": ts, "bot_id": BOT_ID, "text": args.get("text")}
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "views.open":
            view = dict(args.get("view") or {})
            view.update(id=f"V{next(self._seq):08d}", team_id=TEAM, state={"values": {}})
            return {"ok": True, "view": view}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        return {"ok": False, "error": "unknown_method"}

    async def _response(self, request: web.Request) -> web.Response:
        args = await _arguments(request)
        await self._record(Call("response", args, None, request.path))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0PRIVACY"},
                            "debug_info": {"host": "fake-slack"}})  # fmt: skip
        self.connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await self.socket_messages.put(json.loads(message.data))
        return ws

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send one Socket Mode envelope to the connected client."""
        await self.sockets[-1].send_json(envelope)


async def _arguments(request: web.Request) -> dict[str, Any]:
    """JSON or form arguments; form fields holding JSON (blocks, view) are decoded."""
    if request.method == "GET":
        return dict(request.query)
    raw = await request.text()
    if request.content_type == "application/json":
        return dict(json.loads(raw or "{}"))
    args: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
    for key in ("blocks", "view", "attachments"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


@asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A started FakeSlack, closed afterwards."""
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
