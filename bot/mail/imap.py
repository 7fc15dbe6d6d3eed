"""The IMAP poller: reads unhandled mail (IDLE or polling), hands it to the door, sets keywords.

Every message given an outcome gets the keyword IMAP_KEYWORD (default `$PrivacyBot`); one the
privacy team must still act on (not covered by the policy, rate limited, failed, a note left
for them) also gets `<IMAP_KEYWORD>NeedsHuman` (`$PrivacyBotNeedsHuman`), so that people can
filter on it. `\\Seen` is never set: people still see every message as unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable
from typing import Any, Final, Protocol

from aioimaplib import aioimaplib

from bot.config import ImapSettings
from bot.errors import ConfigError, PrivacyBotError
from bot.mail.door import Outcome

log = logging.getLogger("bot.mail.imap")

MAX_FETCH: Final = 10 * 1024 * 1024  # bytes of one message read (the parser reads less)
FETCH: Final = f"(BODY.PEEK[]<0.{MAX_FETCH}>)"  # PEEK: humans still see the mail as unread
IDLE_MAX: Final = 25 * 60.0  # re-issue IDLE before servers' 29-30 minute limit
BACKOFF_START: Final = 1.0
BACKOFF_MAX: Final = 300.0
_LITERAL = re.compile(rb"\{(\d+)\}\s*$")
_KEYWORD = re.compile(r"^[!#-'*+\-.0-9:;<=>?@A-Z^-z|~$]{1,64}$")  # an IMAP atom, no specials
HUMAN_SUFFIX: Final = "NeedsHuman"  # IMAP_KEYWORD + this marks mail a person must handle


class ImapError(PrivacyBotError, RuntimeError):
    """The IMAP server refused a step (login, select, store) or does not offer what we need."""


class Door(Protocol):
    """What the poller needs from the email door."""

    async def handle(self, raw: bytes, *, worker: str) -> Outcome: ...


def _ok(response: Any, what: str) -> Any:
    if getattr(response, "result", None) != "OK":
        lines = b" ".join(bytes(x) for x in getattr(response, "lines", [])[-1:])
        raise ImapError(f"{what} refused: {lines.decode('utf-8', 'replace')[:200]}")
    return response


def quote(mailbox: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def message_bytes(lines: list[Any]) -> bytes | None:
    """The literal of a `UID FETCH ... BODY.PEEK[]` response (None when the mail is gone)."""
    for i, line in enumerate(lines[:-1]):
        if isinstance(line, bytes | bytearray) and _LITERAL.search(bytes(line)):
            following = lines[i + 1]
            if isinstance(following, bytes | bytearray):
                return bytes(following)
    return None


class ImapPoller:
    """Hands every message of one mailbox that lacks the bot's keyword to the door, once."""

    def __init__(
        self,
        settings: ImapSettings,
        door: Door,
        *,
        worker_name: str,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        idle_seconds: float | None = None,
    ) -> None:
        human = settings.keyword + HUMAN_SUFFIX
        if not all(_KEYWORD.match(k) for k in (settings.keyword, human)):
            raise ImapError(f"IMAP_KEYWORD {settings.keyword!r} is not a valid IMAP keyword "
                            f"(at most {64 - len(HUMAN_SUFFIX)} characters, no spaces)")  # fmt: skip
        self.settings = settings
        self.human_keyword = human
        self.door = door
        self.worker_name = worker_name
        self.timeout = timeout
        self.idle_seconds = min(idle_seconds or settings.poll_seconds, IDLE_MAX)
        self._ssl = ssl_context
        self._client: aioimaplib.IMAP4 | None = None
        self._lost = False
        self._logged_in = False  # once a login worked, a refusal is retried, not fatal
        self.handled = 0  # messages given a final outcome since start

    async def poll_once(self, stop: asyncio.Event | None = None) -> int:
        """Handle every unmarked message now; returns how many got a final outcome."""
        client = await self._connected()
        unhandled = ("UNDELETED", "UNKEYWORD", self.settings.keyword)
        response = _ok(await client.uid_search(*unhandled, charset=None), "UID SEARCH")
        uids = [int(u) for line in response.lines[:-1] for u in _search_numbers(bytes(line))]
        done = 0
        for uid in sorted(uids):
            if stop is not None and stop.is_set():
                break
            fetched = _ok(await client.uid("fetch", str(uid), FETCH), "UID FETCH")
            raw = message_bytes(fetched.lines)
            if raw is None:
                continue  # expunged by someone else meanwhile
            outcome = await self.door.handle(raw, worker=self.worker_name)
            if not outcome.final:
                continue  # busy elsewhere, or the store is down: it stays unmarked for later
            flags = [self.settings.keyword]
            if outcome.needs_person:
                flags.append(self.human_keyword)
            stored = await client.uid("store", str(uid), "+FLAGS.SILENT", f"({' '.join(flags)})")
            _ok(stored, "UID STORE")
            done += 1
        self.handled += done
        return done

    async def run(self, stop: asyncio.Event) -> None:
        """Poll (IDLE when offered) until `stop`; reconnects with backoff after any failure
        but a refused first login (ConfigError). Returns once the message in hand is finished."""
        delay = BACKOFF_START
        try:
            while not stop.is_set():
                try:
                    if not await _unless_stopped(self._connected(), stop):
                        break  # stopped while (re)connecting: no message was in hand
                    await self.poll_once(stop)
                    delay = BACKOFF_START
                    if not stop.is_set():
                        await self._wait(stop)
                except ConfigError:  # the first login was refused: a setting is wrong
                    raise
                except Exception as exc:  # network, server or protocol trouble: start over
                    where = f"{self.settings.host}:{self.settings.port}"
                    problem = f"{type(exc).__name__}: {str(exc)[:200]}"
                    log.warning("IMAP %s: %s; reconnecting in %.0f s", where, problem, delay)
                    await self.close()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, BACKOFF_MAX)
        finally:
            await self.close()

    async def close(self) -> None:
        """Log out (best effort) and forget the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        connecting = getattr(client, "_client_task", None)
        if connecting is not None and not connecting.done():
            connecting.cancel()  # stopped while connecting: no transport may be left behind
            await asyncio.wait({connecting})
        with contextlib.suppress(Exception):
            if not self._lost and client.protocol.transport is not None:
                await asyncio.wait_for(client.logout(), 5)
        with contextlib.suppress(Exception):
            transport = client.protocol.transport
            if transport is not None:
                transport.close()

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until new mail may be there: IDLE for an EXISTS push (re-issued), or a poll interval."""
        client = await self._connected()
        if not client.has_capability("IDLE"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.poll_seconds)
            return
        idle = await client.idle_start(timeout=self.idle_seconds)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while client.has_pending_idle() and not stop.is_set():
                push = asyncio.ensure_future(client.wait_server_push(self.idle_seconds + 5))
                await asyncio.wait({push, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not push.done():
                    push.cancel()
                    break
                lines = push.result()
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH or _has_new_mail(lines):
                    break
        finally:
            stopping.cancel()
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(idle, self.timeout)

    async def _connected(self) -> aioimaplib.IMAP4:
        if self._client is not None and not self._lost:
            return self._client
        await self.close()
        try:
            self._client = await self._connect()
        except BaseException:  # no half-open (unauthenticated) connection is kept
            await self.close()
            raise
        return self._client

    async def _connect(self) -> aioimaplib.IMAP4:
        s = self.settings
        self._lost = False
        if s.use_tls:
            context = self._ssl or ssl.create_default_context()
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                s.host, s.port, timeout=self.timeout, ssl_context=context
            )
        else:
            client = aioimaplib.IMAP4(s.host, s.port, timeout=self.timeout)
        self._client = client
        client.protocol.conn_lost_cb = self._on_lost
        await client.wait_hello_from_server()
        if s.start_tls:
            await self._starttls(client)
        if s.oauth2_token:
            login = await client.xoauth2(s.username, s.oauth2_token)
        else:
            login = await client.login(s.username, s.password or "")
        if login.result != "OK" and not self._logged_in:
            secret = "IMAP_OAUTH2_TOKEN" if s.oauth2_token else "IMAP_PASSWORD"
            said = b" ".join(bytes(x) for x in login.lines[-1:]).decode("utf-8", "replace")
            raise ConfigError(f"IMAP login as {s.username} at {s.host}:{s.port} refused: check "
                              f"{secret} (and the user in IMAP_URL): {said[:200]}")  # fmt: skip
        _ok(login, f"login as {s.username}")
        self._logged_in = True
        selected = _ok(await client.select(quote(s.mailbox)), f"SELECT {s.mailbox}")
        if not all(_keyword_allowed(selected.lines, k) for k in (s.keyword, self.human_keyword)):
            log.warning("mailbox %s may not keep the keywords %s, %s (PERMANENTFLAGS): handled "
                        "mail will be read again, and answered from the store's record",
                        s.mailbox, s.keyword, self.human_keyword)  # fmt: skip
        log.info("IMAP connected to %s:%d, mailbox %s%s", s.host, s.port, s.mailbox,
                 " (IDLE)" if client.has_capability("IDLE") else "")  # fmt: skip
        return client

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        """Upgrade the plain connection (aioimaplib has no STARTTLS of its own)."""
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("the server does not offer STARTTLS (use imaps:// or ?starttls=false)")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _ok(await asyncio.wait_for(protocol.execute(command), self.timeout), "STARTTLS")
        context = self._ssl or ssl.create_default_context()
        loop = asyncio.get_running_loop()
        transport = await asyncio.wait_for(
            loop.start_tls(protocol.transport, protocol, context,
                           server_hostname=self.settings.host),
            self.timeout,
        )  # fmt: skip
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self.timeout)

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost = True


async def _unless_stopped(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` is set first (then it is cancelled); True when it completed."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False


def _search_numbers(line: bytes) -> list[str]:
    """UIDs of a SEARCH response line (aioimaplib strips `* SEARCH`; tolerate it either way)."""
    words = line.split()
    words = words[1:] if words[:1] == [b"SEARCH"] else words
    return [w.decode() for w in words if w.isdigit()]


def _keyword_allowed(lines: list[Any], keyword: str) -> bool:
    """Whether SELECT's PERMANENTFLAGS lets us set `keyword` (true when it says nothing)."""
    for line in lines:
        text = bytes(line).decode("utf-8", "replace")
        if "[PERMANENTFLAGS (" in text:
            flags = text.split("[PERMANENTFLAGS (", 1)[1].split(")", 1)[0].split()
            return "\\*" in flags or keyword in flags
    return True


def _has_new_mail(lines: Any) -> bool:
    if not isinstance(lines, list):
        return False
    return any(isinstance(x, bytes | bytearray) and b"EXISTS" in x for x in lines)
