"""`POST /inbound/email`: a raw RFC 822 message pushed by an MTA or a mail provider (secret)."""

from __future__ import annotations

import hmac
import logging
import os
import socket
from typing import Final

from aiohttp import web

from bot.mail.door import EmailDoor

log = logging.getLogger("bot.mail.webhook")

EMAIL_DOOR: Final = web.AppKey("email_door", EmailDoor)
INBOUND_SECRET: Final = web.AppKey("inbound_secret", str)
MAX_MESSAGE_BYTES: Final = 10 * 1024 * 1024  # a pushed message larger than this is refused
RETRY_AFTER_SECONDS: Final = 60  # when to push again a message that could not be recorded
WORKER: Final = f"webhook:{socket.gethostname()}:{os.getpid()}"


def _given_secret(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-Inbound-Secret")


def _authorised(request: web.Request) -> bool:
    """Constant-time compare; with no secret configured the webhook accepts nothing."""
    secret = request.app.get(INBOUND_SECRET)
    given = _given_secret(request)
    if not secret or given is None:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` (read in chunks, never all at once)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def inbound_email(request: web.Request) -> web.Response:
    """Body: the raw message (message/rfc822 or any type). Answers {action, reason, ticket}.

    Auth: `Authorization: Bearer <INBOUND_SECRET>` or `X-Inbound-Secret: <INBOUND_SECRET>`.
    200 with the recorded outcome (also when the message was handled before, and an "error"
    that was recorded); 503 with Retry-After when another worker holds it or it could not be
    recorded yet (the store is down): a 5xx makes the pushing MTA keep it and try again.
    """
    if not _authorised(request):
        return _json_error(
            401, "a valid inbound secret is required", {"WWW-Authenticate": "Bearer"}
        )
    raw = await _read_capped(request, MAX_MESSAGE_BYTES)
    if raw is None:  # the rest of the body is not read: close the connection after answering
        response = _json_error(413, f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
        response.force_close()
        return response
    if not raw.strip():
        return _json_error(400, "the body must be a raw RFC 822 message")
    outcome = await request.app[EMAIL_DOOR].handle(raw, worker=WORKER)
    body = {"action": outcome.action, "reason": outcome.reason, "ticket": outcome.ticket_id,
            "replayed": outcome.replayed}  # fmt: skip
    if outcome.final:
        return web.json_response(body)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return web.json_response(body, status=503, headers=headers)
