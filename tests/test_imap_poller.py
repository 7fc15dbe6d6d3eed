"""The IMAP poller against Dovecot: IDLE and polling, TLS, XOAUTH2, stop, reconnect, two workers."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from bot.errors import ConfigError
from bot.mail.imap import ImapError, ImapPoller, _keyword_allowed
from tests.dovecot import Dovecot, append, flags, imap_client, running_dovecot
from tests.emailrig import Rig, with_imap
from tests.mailfactory import SAMPLES, raw_mail


def mail(n: int) -> bytes:
    return raw_mail(
        "Do you use cookies on your website?",
        headers={"Message-ID": f"<p{n}@example.com>", "From": f"p{n}@example.com"},
    )


async def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture(name="no_idle_dovecot", scope="module")
def no_idle_dovecot_fixture() -> Iterator[Dovecot]:
    with running_dovecot('imap_capability = "IMAP4rev1 LITERAL+ UIDPLUS"') as server:
        yield server


async def test_idle_wakes_on_new_mail_and_stop_returns(rig: Rig) -> None:
    poller = rig.workers[0].poller
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await wait_for(lambda: poller._client is not None and poller._client.has_pending_idle())
    started = time.monotonic()
    await append(rig.dovecot, rig.user, mail(1))
    await wait_for(lambda: len(rig.replies()) == 1)
    assert time.monotonic() - started < 5  # pushed by IDLE, not a 60 s poll
    await wait_for(lambda: poller.handled == 1)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert await flags(rig.dovecot, rig.user) == [{"$PrivacyBot"}]


async def test_polls_when_the_server_has_no_idle(
    rig: Rig, no_idle_dovecot: Dovecot
) -> None:  # fmt: skip
    user = no_idle_dovecot.new_user()
    settings = with_imap(rig.settings, port=no_idle_dovecot.port, username=user)
    poller = ImapPoller(settings.imap, rig.workers[0].door, worker_name="p")  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_for(lambda: poller._client is not None)
        assert poller._client is not None and not poller._client.has_capability("IDLE")
        await append(no_idle_dovecot, user, mail(1))
        await wait_for(lambda: poller.handled == 1, 5)  # IMAP_POLL_SECONDS=1
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(rig.replies()) == 1


async def test_two_idle_workers_answer_each_message_once(rig: Rig) -> None:
    second = rig.worker("w2")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.poller.run(stop)) for w in rig.workers]
    await append(rig.dovecot, rig.user, *(mail(n) for n in range(8)))
    await wait_for(lambda: len(rig.replies()) >= 8)
    await wait_for(lambda: rig.workers[0].poller.handled + second.poller.handled >= 8)
    await asyncio.sleep(0.3)  # room for a double answer to show up, if there were one
    stop.set()
    await asyncio.gather(*tasks)
    assert sorted(rig.replies()) == sorted(f"<p{n}@example.com>" for n in range(8))


@pytest.mark.parametrize("mode", ["starttls", "imaps", "xoauth2"])
async def test_tls_and_oauth_logins(rig: Rig, mode: str) -> None:
    if rig.dovecot.cert is None and mode != "xoauth2":
        pytest.skip("the openssl program is needed to make the test certificate")
    cert = rig.dovecot.cert
    context = ssl.create_default_context(cafile=str(cert)) if cert else None
    base = rig.settings.imap
    assert base is not None
    options: dict[str, dict[str, object]] = {
        "starttls": {"start_tls": True},
        "imaps": {"use_tls": True, "port": rig.dovecot.tls_port},
        "xoauth2": {"password": None, "oauth2_token": base.password},
    }
    changes = options[mode]
    settings = with_imap(rig.settings, **changes)
    poller = ImapPoller(settings.imap, rig.workers[0].door, worker_name="t", ssl_context=context)  # type: ignore[arg-type]
    await append(rig.dovecot, rig.user, mail(1))
    try:
        assert await poller.poll_once() == 1
    finally:
        await poller.close()
    method = "XOAUTH2" if mode == "xoauth2" else "PLAIN"
    logins = [x for x in rig.dovecot.log_tail().splitlines() if f"user=<{rig.user}>, method=" in x]
    assert f"method={method}," in logins[-1]
    assert (", TLS," in logins[-1]) == (mode != "xoauth2")


async def test_starttls_refuses_an_untrusted_certificate(rig: Rig) -> None:
    if rig.dovecot.cert is None:
        pytest.skip("the openssl program is needed to make the test certificate")
    settings = with_imap(rig.settings, start_tls=True)
    poller = ImapPoller(settings.imap, rig.workers[0].door, worker_name="t")  # type: ignore[arg-type]
    with pytest.raises(ssl.SSLCertVerificationError):
        await poller.poll_once()
    await poller.close()


async def test_a_wrong_password_at_start_is_a_config_error(rig: Rig) -> None:
    """On a server of its own: Dovecot slows every later login from an address that failed."""
    with running_dovecot() as server:
        settings = with_imap(rig.settings, password="wrong", port=server.port)
        poller = ImapPoller(settings.imap, rig.workers[0].door, worker_name="t")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^IMAP login as .* refused: check IMAP_PASSWORD"):
            await asyncio.wait_for(poller.run(asyncio.Event()), 20)  # at once, not retried


async def test_a_refusal_after_a_working_login_is_retried(rig: Rig) -> None:
    with running_dovecot() as server:
        settings = with_imap(rig.settings, port=server.port)
        poller = ImapPoller(settings.imap, rig.workers[0].door, worker_name="t")  # type: ignore[arg-type]
        assert await poller.poll_once() == 0
        await poller.close()
        poller.settings = replace(poller.settings, password="changed")
        with pytest.raises(ImapError, match="login"):
            await poller.poll_once()
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        await asyncio.sleep(0.3)
        assert not task.done()  # backing off and trying again
        stop.set()
        await asyncio.wait_for(task, 5)  # backing off, it still stops at once


async def test_reconnects_after_the_connection_drops(rig: Rig) -> None:
    poller = rig.workers[0].poller
    await append(rig.dovecot, rig.user, mail(1))
    assert await poller.poll_once() == 1
    assert poller._client is not None
    poller._client.protocol.transport.close()  # the server or the network went away
    await wait_for(lambda: poller._lost)
    await append(rig.dovecot, rig.user, mail(2))
    assert await poller.poll_once() == 1


def test_a_bad_keyword_is_refused(rig: Rig) -> None:
    settings = with_imap(rig.settings, keyword="two words")
    with pytest.raises(ImapError, match="keyword"):
        ImapPoller(settings.imap, rig.workers[0].door, worker_name="t")  # type: ignore[arg-type]


async def test_the_corpus_end_to_end(rig_factory: Callable[..., Rig]) -> None:
    """All sample mails through IMAP, the door and SMTP: the expected action for each."""
    if not (SAMPLES / "expected.jsonl").exists():
        pytest.skip("the shared email corpus is not there")
    rig = rig_factory(AUTO_REPLY_LIMIT_PER_DAY="100")
    worker = rig.worker()
    await worker.store.migrate()
    expected = [json.loads(x) for x in (SAMPLES / "expected.jsonl").read_text().splitlines() if x]
    await append(rig.dovecot, rig.user, *((SAMPLES / e["file"]).read_bytes() for e in expected))
    assert await worker.poller.poll_once() == len(expected)
    replies = len(rig.smtp.recorder.by_purpose("reply"))
    acks = len(rig.smtp.recorder.by_purpose("ack"))
    tickets = await worker.store.list_tickets()
    want = [e["action"] for e in expected]
    assert abs(replies - want.count("reply")) <= 1 and abs(acks - want.count("ticket")) <= 1
    assert len(tickets) == acks
    assert all(f == {"$PrivacyBot"} for f in await flags(rig.dovecot, rig.user))


async def test_keyword_permission_is_read_from_select(rig: Rig) -> None:
    client = await imap_client(rig.dovecot, rig.user)
    try:
        selected = await client.select("INBOX")
    finally:
        await client.logout()
    assert _keyword_allowed(selected.lines, "$PrivacyBot")
    assert not _keyword_allowed([b"OK [PERMANENTFLAGS (\\Seen \\Flagged)] Limited"], "$PrivacyBot")


async def test_deleted_mail_is_left_alone(rig: Rig) -> None:
    client = await imap_client(rig.dovecot, rig.user)
    try:
        assert (await client.append(mail(1), mailbox="INBOX", flags="(\\Deleted)")).result == "OK"
    finally:
        await client.logout()
    assert await rig.workers[0].poller.poll_once() == 0
    assert rig.replies() == []
