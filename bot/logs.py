"""Logging that respects privacy: text or JSON lines, a work id on every record, masking."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO

NO_ID: Final = "-"
_work_id: ContextVar[str] = ContextVar("privacybot_work_id", default=NO_ID)
_PREFIX: Final = secrets.token_hex(3)
_counter = itertools.count(1)

_ADDRESS = re.compile(r"[\w.!#$%&'*+=?^`{|}~-]+@([\w-]+(?:\.[\w-]+)+)", re.UNICODE)
# Phone numbers, CPR numbers, account and card numbers: six or more digits, maybe grouped.
_NUMBER = re.compile(r"(?<![\w])\+?\d(?:[ .-]?\d){5,}(?![\w])")
_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Attributes every LogRecord has; anything else was passed with `extra=` and is kept in JSON.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


def new_id() -> str:
    """A short id for one unit of work (an HTTP request, a mail, a Slack event): a random
    prefix per process and a counter, so ids are unique across processes and cheap to make."""
    return f"{_PREFIX}{next(_counter):06x}"


def current_id() -> str:
    """The id of the unit of work running in this context, or "-" outside of one."""
    return _work_id.get()


def clean_id(candidate: str | None) -> str:
    """`candidate` when it is a safe id to echo (e.g. a client's X-Request-Id), else a new one."""
    return candidate if candidate and _ID_OK.match(candidate) else new_id()


def set_id(work_id: str) -> None:
    """Make `work_id` the id of the current context (a task's context ends with the task)."""
    _work_id.set(work_id)


@contextlib.contextmanager
def work(work_id: str | None = None) -> Iterator[str]:
    """Run a block as one unit of work: every record logged inside carries its id."""
    token = _work_id.set(work_id or new_id())
    try:
        yield _work_id.get()
    finally:
        _work_id.reset(token)


def mask_address(address: str) -> str:
    """Mask an address: jane.doe@corp.co -> j***@corp.co; without an @ it becomes ***."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_text(text: str) -> str:
    """`text` with every email address masked and long digit runs (phone, CPR) replaced."""
    masked = _ADDRESS.sub(lambda m: mask_address(m.group(0)), text)
    return _NUMBER.sub("[number]", masked)


class WorkIdFilter(logging.Filter):
    """Stamps each record with the current unit of work's id as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _work_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, id, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", _work_id.get()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Handler(logging.StreamHandler[TextIO]):
    """The handler `setup_logging` installs (so a second call replaces it)."""


TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def setup_logging(
    level: str = "INFO", fmt: str = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Send every record to `stream` (stderr) as text or JSON lines; replaces an earlier
    setup. Returns the handler installed on the root logger."""
    handler = _Handler(stream or sys.stderr)
    handler.addFilter(WorkIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's own access log would repeat our request line; libraries stay at WARNING.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for noisy in ("asyncio", "aiosqlite", "slack_bolt", "slack_sdk", "aioimaplib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler
