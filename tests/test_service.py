"""The Procfile's processes as real subprocesses: start, answer, SIGTERM, bad settings."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from dotenv import dotenv_values

from bot.config import Settings
from tests.dovecot import PASSWORD, append, flags, running_dovecot
from tests.pg import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
VARIABLES = sorted(
    set(re.findall(r'get\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "bot/config.py").read_text()))
)


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def environment(tmp_path: Path, **env: str) -> dict[str, str]:
    """The machine's environment without any privacybot setting, plus `env`."""
    base = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    return {**base, "DATA_DIR": str(tmp_path / "var"), **env}


@contextmanager
def process(name: str, tmp_path: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run the Procfile's `name` process as the platform would (a shell expands $PORT)."""
    log = (tmp_path / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {procfile()[name]}"], cwd=tmp_path,
        env=environment(tmp_path, **env), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def output(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text(errors="replace")


async def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the process exited early"
            try:
                async with session.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


async def exit_code(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert proc.returncode is not None, "the process did not stop"
    return proc.returncode


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("postgres_database_url")}
    return {}


async def test_release_then_web_answer_and_stop_on_sigterm(
    tmp_path: Path, database: dict[str, str]
) -> None:
    backend = "postgres" if database else "sqlite"
    with process("release", tmp_path, **database) as release:
        assert await exit_code(release, 60) == 0
    assert re.match(rf"{backend} store at schema version \d+$", output(tmp_path, "release").strip())
    port = free_port()
    with process("web", tmp_path, PORT=str(port), **database) as web:
        url = f"http://127.0.0.1:{port}"
        await wait_for(url + "/healthz", web)
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/readyz") as r:
                assert (r.status, await r.json()) == (200, {"status": "ready", "store": backend})
            async with session.post(url + "/ask", json={"question": "Do you use cookies?"}) as r:
                assert r.status == 200 and (await r.json())["answered"] is True
            async with session.get(url + "/metrics") as r:
                assert 'privacybot_answers_total{channel="web",outcome="answered"} 1.0' in (
                    await r.text()
                )
        web.send_signal(signal.SIGTERM)
        assert await exit_code(web) == 0
    log = output(tmp_path, "web")
    assert f"privacybot serving on http://0.0.0.0:{port}" in log and "stopped" in log
    assert "Traceback" not in log


class SlowSmtp:
    """An SMTP server on loopback that takes `delay` seconds to accept each message."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started = threading.Event()
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.started.set()
        await asyncio.sleep(self.delay)
        self.received.append(bytes(envelope.content))
        return "250 OK"


def question_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane Doe <jane.doe@example.com>"
    msg["To"] = "privacy@ciemtech.com"
    msg["Subject"] = "Cookies"
    msg["Message-ID"] = "<sigterm-1@example.com>"
    msg.set_content("Hi, do you use cookies on your website? Regards, Jane")
    return msg.as_bytes()


async def test_sigterm_lets_the_message_in_hand_finish(tmp_path: Path) -> None:
    smtp = SlowSmtp(delay=1.5)
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()  # type: ignore[no-untyped-call]
    port = free_port()
    env = {"PORT": str(port), "INBOUND_SECRET": "in",
           "SMTP_URL": f"smtp://127.0.0.1:{controller.port}?starttls=false"}  # fmt: skip
    try:
        with process("web", tmp_path, **env) as web:
            url = f"http://127.0.0.1:{port}"
            await wait_for(url + "/healthz", web)
            async with aiohttp.ClientSession() as session:
                push = asyncio.ensure_future(session.post(
                    url + "/inbound/email", data=question_mail(), headers={"X-Inbound-Secret": "in"}
                ))  # fmt: skip
                while not smtp.started.is_set():  # the reply is being sent: mid-work
                    assert not push.done()
                    await asyncio.sleep(0.02)
                web.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.3)
                assert web.poll() is None  # still finishing
                with pytest.raises(OSError):  # but no longer taking new connections
                    await asyncio.open_connection("127.0.0.1", port)
                async with await push as r:
                    assert (r.status, (await r.json())["action"]) == (200, "reply")
            assert await exit_code(web) == 0
    finally:
        controller.stop()  # type: ignore[no-untyped-call]
    assert len(smtp.received) == 1 and b"jane.doe@example.com" in smtp.received[0]


async def test_worker_sigterm_finishes_the_message_in_hand_and_leaves_the_rest(
    tmp_path: Path,
) -> None:
    smtp = SlowSmtp(delay=1.5)
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()  # type: ignore[no-untyped-call]
    try:
        with running_dovecot() as imap:
            user = imap.new_user()
            second = question_mail().replace(b"sigterm-1@", b"sigterm-2@")
            await append(imap, user, question_mail(), second)
            env = {"IMAP_URL": f"imap://{user}@127.0.0.1:{imap.port}/INBOX?starttls=false",
                   "IMAP_PASSWORD": PASSWORD,
                   "SMTP_URL": f"smtp://127.0.0.1:{controller.port}?starttls=false"}  # fmt: skip
            with process("worker", tmp_path, **env) as worker:
                deadline = time.monotonic() + 60
                while not smtp.started.is_set():  # the first reply is being sent: mid-work
                    assert worker.poll() is None and time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                worker.send_signal(signal.SIGTERM)
                assert await exit_code(worker) == 0
            marks = await flags(imap, user)
    finally:
        controller.stop()  # type: ignore[no-untyped-call]
    assert len(smtp.received) == 1  # the message in hand was answered, the next one was not
    assert ["$PrivacyBot" in f for f in marks] == [True, False]
    log = output(tmp_path, "worker")
    assert "worker stopped" in log and "jane.doe" not in log and "cookies" not in log


async def test_worker_without_configuration_runs_flusher_and_purge(tmp_path: Path) -> None:
    with process("worker", tmp_path) as worker:
        deadline = time.monotonic() + 60
        while "retention purge before" not in output(tmp_path, "worker"):
            assert worker.poll() is None and time.monotonic() < deadline, output(tmp_path, "worker")
            await asyncio.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        assert await exit_code(worker) == 0
    log = output(tmp_path, "worker")
    assert "no IMAP_URL or SLACK_APP_TOKEN configured" in log and "worker stopped" in log
    assert (tmp_path / "var" / "privacybot.sqlite3").exists()


@pytest.mark.parametrize(
    ("name", "env", "variable"),
    [
        ("web", {"PORT": "abc"}, "PORT"),
        ("web", {"PORT": "8080", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ("web", {"PORT": "8080", "SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN"),
        ("worker", {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ("worker", {"IMAP_URL": "imaps://bot@mail.example.com"}, "IMAP_PASSWORD"),
        ("release", {"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ],
)
async def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, name: str, env: dict[str, str], variable: str
) -> None:
    with process(name, tmp_path, **env) as proc:
        assert await exit_code(proc) == 2
    lines = output(tmp_path, name).splitlines()
    assert len(lines) == 1 and lines[0].startswith("privacybot: ") and variable in lines[0]


async def test_dotenv_in_the_working_directory_is_read_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    port = free_port()
    (tmp_path / ".env").write_text("API_TOKEN=from-dotenv\nPORT=1\n")
    with process("web", tmp_path, PORT=str(port)) as web:
        url = f"http://127.0.0.1:{port}"
        await wait_for(url + "/healthz", web)
        question = {"question": "Do you use cookies?"}
        async with aiohttp.ClientSession() as session:
            async with session.post(url + "/ask", json=question) as r:
                assert r.status == 401
            auth = {"Authorization": "Bearer from-dotenv"}
            async with session.post(url + "/ask", json=question, headers=auth) as r:
                assert r.status == 200
        web.send_signal(signal.SIGTERM)
        assert await exit_code(web) == 0


def test_env_example_lists_every_variable_and_its_defaults_are_valid() -> None:
    example = dotenv_values(ROOT / ".env.example")
    assert sorted(example) == VARIABLES
    text = (ROOT / ".env.example").read_text()
    for name in VARIABLES:  # each has a comment right above it (or above its group)
        before = text.split(f"\n{name}=", 1)[0].rstrip().splitlines()[-1]
        assert before.startswith("#") or re.match(r"[A-Z_]+=$", before), name
    settings = Settings.from_env({k: v or "" for k, v in example.items()})
    assert (settings.host, settings.port, settings.retention_days) == ("127.0.0.1", 8080, 90)


def test_platform_files() -> None:
    assert set(procfile()) == {"web", "worker", "release"}
    assert "--port $PORT" in procfile()["web"]
    assert ".[postgres]" in (ROOT / "requirements.txt").read_text().split()
    assert (ROOT / ".python-version").read_text().strip() == "3.11"
