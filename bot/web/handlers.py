"""The HTTP API's own routes: POST /ask, GET /healthz, GET /readyz, GET /metrics."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from typing import Final

from aiohttp import web

from bot.gaps import is_gap
from bot.metrics import CONTENT_TYPE
from bot.web.keys import ANSWERS, GAPS, LIMITER, METRICS, SETTINGS, STORE
from bot.web.ratelimit import retry_after
from bot.web.responses import error

MAX_QUESTION: Final = 2000  # characters; longer text is not a question, and costs CPU
LANGS: Final = ("en", "da")
READY_TIMEOUT: Final = 3.0
MAX_CLIENT: Final = 64  # characters of a forwarded address kept as a rate-limit key
_JSON: Final = {"Content-Type": "application/json; charset=utf-8"}
log = logging.getLogger("bot.web")


def authorised(request: web.Request, token: str | None) -> bool:
    """True when no token is configured or the request bears it (constant-time compare)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    )


def client_of(request: web.Request, trust_proxy: bool = False) -> str:
    """Whom the rate limit counts: the peer, or behind a trusted proxy the X-Forwarded-For
    address it appended (the last one: the ones before it are the caller's to forge)."""
    if trust_proxy:
        hops = ",".join(request.headers.getall("X-Forwarded-For", ())).split(",")
        if last := hops[-1].strip():
            return last[:MAX_CLIENT]
    return request.remote or "unknown"


async def ask(request: web.Request) -> web.Response:
    """{"question": "...", "lang"?: "en"|"da"} -> the answer JSON of DESIGN.md."""
    app = request.app
    wait = app[LIMITER].take(client_of(request, app[SETTINGS].trust_proxy))
    if wait:
        app[METRICS].rate_limited.labels("/ask").inc()
        return error(429, "too many requests", {"Retry-After": retry_after(wait)})
    if not authorised(request, app[SETTINGS].api_token):
        return error(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return error(400, "the body must be a JSON object")
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object")
    question, lang = body.get("question"), body.get("lang")
    if not isinstance(question, str) or not question.strip():
        return error(400, "`question` must be a non-empty string")
    if len(question) > MAX_QUESTION:
        return error(400, f"`question` must be at most {MAX_QUESTION} characters")
    if lang is not None and lang not in LANGS:
        return error(400, '`lang` must be "en" or "da" when given')
    started = time.perf_counter()
    answer, cached = app[ANSWERS].answer(question, lang)
    app[METRICS].answer("web", answer.answered, time.perf_counter() - started, cached)
    if is_gap(answer):
        app[GAPS].record(answer.question, answer.lang, answer.confidence)
    return web.Response(body=answer.body, headers=_JSON)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves requests."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the store answers within a few seconds."""
    store = request.app[STORE]
    try:
        await asyncio.wait_for(store.ping(), READY_TIMEOUT)
    except Exception as exc:
        log.warning(
            "not ready: the %s store did not answer (%s)", store.backend, type(exc).__name__
        )
        return web.json_response({"status": "unavailable", "store": store.backend}, status=503)
    return web.json_response({"status": "ready", "store": store.backend})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})
