"""One middleware per request: its id, JSON errors without tracebacks, metrics, one log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.logs import clean_id, mask_text, work
from bot.web.keys import METRICS
from bot.web.responses import dumps, error

log = logging.getLogger("bot.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_KEEP_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def route_of(request: web.Request) -> str:
    """The route's pattern (a fixed set of values, fit for a metric label)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id, turn every failure into JSON, count it and log one line."""
    with work(clean_id(request.headers.get("X-Request-Id"))) as request_id:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            kept = {k: v for k in _KEEP_HEADERS if (v := exc.headers.get(k)) is not None}
            response = error(exc.status, exc.reason.lower(), kept)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, route_of(request))
            response = web.json_response(
                {"error": "internal error", "request_id": request_id}, status=500, dumps=dumps
            )
        seconds = time.perf_counter() - started
        route = route_of(request)
        method = request.method if request.method in _METHODS else "OTHER"
        request.app[METRICS].request(route, method, response.status, seconds)
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
            response.headers["Server"] = "privacybot"
            response.headers["X-Content-Type-Options"] = "nosniff"
        # Successes are counted by the metrics and logged at DEBUG (a line per answer costs a
        # tenth of the answer's own time); refusals and errors are logged at INFO.
        level = logging.DEBUG if response.status < 400 else logging.INFO
        if log.isEnabledFor(level):
            path = request.path if route != "unmatched" else mask_text(request.path[:200])
            log.log(
                level, "%s %s %d %.1fms", method, path, response.status, seconds * 1000,
                extra={"status": response.status, "route": route, "ms": round(seconds * 1000, 2)},
            )  # fmt: skip
        return response
