"""A recording aiosmtpd server on 127.0.0.1 port 0 that can stop and restart on its port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    """One delivered message: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps each message, or answers with `reply` (e.g. "451 later")."""

    messages: list[Received] = field(default_factory=list)
    reply: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        data = bytes(envelope.original_content or envelope.content)
        parsed = message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), data, parsed)
            )
        return "250 OK"

    def by_purpose(self, purpose: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.message["X-Privacy-Bot"] == purpose]


class _Controller(Controller):
    """aiosmtpd's threaded controller, able to bind port 0 (it learns the real port)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpServer:
    """Start, stop and restart (on the same port) a recording SMTP server on loopback."""

    def __init__(self, **smtp_options: Any) -> None:
        self.recorder = Recorder()
        self.port = 0
        self._options = smtp_options
        self._controller: _Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return list(self.recorder.messages)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=false"

    def start(self) -> None:
        controller = _Controller(
            self.recorder, hostname="127.0.0.1", port=self.port, **self._options
        )
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(name="smtp_server")
def smtp_server_fixture() -> Iterator[SmtpServer]:
    """A running recording server; import this name (the fixture is called `smtp_server`)."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
