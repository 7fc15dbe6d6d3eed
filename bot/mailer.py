"""The one way out for mail: SMTP, else .eml files; a failed send waits in the outbox."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
import ssl
import unicodedata
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Final

import aiosmtplib

from bot.clock import utcnow
from bot.config import Settings
from bot.errors import MailError
from bot.store import OutboxItem, Outgoing, Store

log = logging.getLogger(__name__)

BACKOFF_START: Final = timedelta(minutes=1)
BACKOFF_CAP: Final = timedelta(hours=6)
MAX_ATTEMPTS: Final = 20  # then the message is `dead`: about 3 days of retries with backoff()
CLAIM_BATCH: Final = 5  # outbox messages claimed at a time by flush()
MAX_HEADER: Final = 200  # characters of a user-derived header value
BOT_HEADER: Final = "X-Privacy-Bot"
AUTO_VALUES: Final = frozenset({"auto-generated", "auto-replied"})
SMTP_POLICY: Final = policy.SMTP  # policy.default with CRLF line ends, as sent on the wire
_PURPOSE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# a failure of the connection as a whole, after which the other queued messages wait
_CONNECTION_ERRORS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError)


def safe_header(text: str | None, limit: int = MAX_HEADER) -> str:
    """`text` fit for a header value: control and line-break characters become spaces,
    runs of spaces collapse, and it is cut to `limit` characters (ending in "…")."""
    chars = (
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI else c
        for c in text or ""
    )
    cleaned = " ".join("".join(chars).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 1 min doubling, capped at 6 h."""
    if attempts < 1:
        return BACKOFF_START
    return min(BACKOFF_START * (1 << min(attempts - 1, 20)), BACKOFF_CAP)


def worker_name() -> str:
    """This mailer's name on its outbox claims: host, process and a random part."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def describe(exc: BaseException) -> str:
    """A short account of a failure fit for logs and the outbox: no addresses, no bodies."""
    code = getattr(exc, "code", None)
    raw = getattr(exc, "message", None)
    raw = raw if isinstance(raw, str) and raw else str(exc)
    text = _ADDRESS.sub("<address>", " ".join(raw.split()))[:160]
    name = type(exc).__name__
    return f"{name} {code}: {text}" if isinstance(code, int) else f"{name}: {text}"


class Mailer:
    """Sends every outgoing message, stamped as the bot's own, and never drops one.

    With `settings.smtp` set, mail goes through that relay (TLS or STARTTLS, login when a
    username is configured); a failed send is queued in the store's outbox and retried by
    `flush()` with exponential backoff, until it is `dead` after MAX_ATTEMPTS. With no SMTP
    configured, each message is written as an .eml file into `settings.outbox_dir`.

    `flush()` claims the messages it sends (a lease of `lease_seconds`, long enough to send a
    batch through a slow relay), so several workers can flush one outbox: each message goes
    out once, and one whose worker died is retried once the lease has run out.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        worker: str | None = None,
        lease_seconds: int | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.worker = worker or worker_name()
        self.lease_seconds = lease_seconds or max(300, int(6 * timeout * CLAIM_BATCH))
        self._clock = clock
        self._timeout = timeout
        self._tls_context = tls_context
        self._flush_lock = asyncio.Lock()

    def stamp(self, message: EmailMessage, *, purpose: str) -> EmailMessage:
        """Give `message` the headers every outgoing message carries; returns it."""
        if not _PURPOSE.match(purpose):
            raise ValueError(f"purpose must be a short lower-case token, not {purpose!r}")
        domain = self.settings.message_id_domain
        current = str(message.get("Message-ID", ""))
        if not current.endswith(f"@{domain}>"):
            del message["Message-ID"]
            message["Message-ID"] = f"<{uuid.uuid4()}@{domain}>"
        if "Date" not in message:
            message["Date"] = format_datetime(self._clock().astimezone(UTC))
        del message["From"]
        message["From"] = self.settings.mail_from
        if str(message.get("Auto-Submitted", "")).strip().lower() not in AUTO_VALUES:
            del message["Auto-Submitted"]
            message["Auto-Submitted"] = "auto-generated"
        del message[BOT_HEADER]
        message[BOT_HEADER] = purpose
        return message

    def prepare(self, message: EmailMessage, *, purpose: str) -> Outgoing:
        """`message` stamped and as sent on the wire, with its envelope (To, Cc and Bcc; Bcc
        is removed), ready to queue: a retry sends the same bytes and Message-ID."""
        self.stamp(message, purpose=purpose)
        recipients = tuple(
            addr for _, addr in getaddresses([str(v) for v in _all_recipients(message)]) if addr
        )
        if not recipients:
            raise ValueError("an outgoing message needs at least one recipient")
        del message["Bcc"]
        return Outgoing(message.as_bytes(policy=SMTP_POLICY), recipients, purpose, self._clock())

    async def flush(self, limit: int = 100, *, ids: Collection[int] | None = None) -> int:
        """Deliver up to `limit` outbox messages that are due (only `ids`, when given), each
        claimed first so that no other worker sends it too; returns how many went out now."""
        delivered = taken = 0
        client: aiosmtplib.SMTP | None = None
        async with self._flush_lock:
            try:
                while taken < limit:
                    items = await self.store.claim_mail(
                        self._clock(), min(CLAIM_BATCH, limit - taken), self.lease_seconds,
                        self.worker, ids=ids,
                    )  # fmt: skip
                    if not items:
                        break
                    taken += len(items)
                    for n, item in enumerate(items):
                        try:
                            if self.settings.smtp is None:
                                await self._write_eml(item.message, _message_id(item.message))
                            else:
                                client = client or await self._connect()
                                await self._sendmail(client, item.recipients, item.message)
                        except MailError as exc:
                            await self._failed(item, exc)
                            if client is None or not client.is_connected:
                                # no relay, or no folder: the others wait for the next flush
                                rest = [i.id for i in items[n + 1 :]]
                                await self.store.release_mail(rest, self._clock())
                                return delivered
                            continue
                        await self.store.mark_mail_sent(item.id, self._clock())
                        delivered += 1
            finally:
                if client is not None:
                    await _quit(client)
                if delivered:
                    log.info("outbox: delivered %d of %d claimed message(s)", delivered, taken)
        return delivered

    async def _failed(self, item: OutboxItem, exc: MailError) -> None:
        attempt = item.attempts + 1
        if attempt >= MAX_ATTEMPTS:
            await self.store.mark_mail_dead(item.id, str(exc), self._clock())
            log.warning("outbox #%d (%s) failed attempt %d: given up and kept as dead "
                        "(privacybot outbox retry %d sends it again): %s",
                        item.id, item.purpose, attempt, item.id, exc)  # fmt: skip
            return
        retry_at = self._clock() + backoff(attempt)
        await self.store.mark_mail_failed(item.id, str(exc), retry_at)
        log.warning("outbox #%d (%s) failed attempt %d, retry at %s: %s", item.id, item.purpose,
                    attempt, retry_at.isoformat(timespec="seconds"), exc)  # fmt: skip

    async def _deliver_one(self, data: bytes, recipients: tuple[str, ...], message_id: str) -> None:
        if self.settings.smtp is None:
            await self._write_eml(data, message_id)
            return
        client = await self._connect()
        try:
            await self._sendmail(client, recipients, data)
        finally:
            await _quit(client)

    async def _connect(self) -> aiosmtplib.SMTP:
        smtp = self.settings.smtp
        if smtp is None:
            raise MailError("no SMTP relay is configured (SMTP_URL)")
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.use_tls,
            start_tls=smtp.start_tls,
            timeout=self._timeout,
            tls_context=self._tls_context,
        )
        try:
            await client.connect()  # logs in too when a username is set
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise MailError(f"connect to the SMTP relay: {describe(exc)}") from None
        return client

    async def _sendmail(self, client: aiosmtplib.SMTP, to: tuple[str, ...], data: bytes) -> None:
        try:
            refused, _ = await client.sendmail(self.settings.mail_from, list(to), data)
        except (aiosmtplib.SMTPException, OSError) as exc:
            if isinstance(exc, _CONNECTION_ERRORS):
                client.close()
            raise MailError(describe(exc)) from None
        if refused:  # the others got it: retrying would send it to them twice
            log.warning("SMTP relay refused %d of %d recipient(s)", len(refused), len(to))

    async def _write_eml(self, data: bytes, message_id: str) -> Path:
        try:
            return await asyncio.to_thread(
                write_eml, self.settings.outbox_dir, data, message_id, self._clock()
            )
        except OSError as exc:
            raise MailError(f"write to the outbox folder: {describe(exc)}") from None


def write_eml(folder: Path, data: bytes, message_id: str, now: datetime) -> Path:
    """Write one message atomically (temp file, fsync, rename); only the owner may read it."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    name = f"{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{digest}.eml"
    final = folder / name
    tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def purge_files(folder: Path, before: datetime) -> int:
    """Delete the .eml files in `folder` last written before `before`; how many went."""
    cut = before.timestamp()
    gone = 0
    for path in folder.glob("*.eml") if folder.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < cut:
                path.unlink()
                gone += 1
        except FileNotFoundError:  # removed meanwhile (another purge)
            continue
    return gone


def _all_recipients(message: EmailMessage) -> list[object]:
    return [v for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]


def _message_id(data: bytes) -> str:
    headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
    return str(headers.get("Message-ID") or hashlib.sha256(data).hexdigest())


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        client.close()
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
