"""JSON bodies as every response of the HTTP door writes them, errors included."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def dumps(obj: Any) -> str:
    """Compact JSON, UTF-8 text rather than \\u escapes."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response: {"error": message}."""
    return web.json_response({"error": message}, status=status, headers=headers, dumps=dumps)
