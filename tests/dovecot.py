"""A real, throwaway Dovecot IMAP server (Debian's dovecot-imapd) on loopback for mail tests."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from aioimaplib import aioimaplib

REQUIRE_ENV = ("CI", "PRIVACYBOT_REQUIRE_SERVICES", "PRIVACYBOT_REQUIRE_DOVECOT")
PASSWORD = "secret"  # every user name logs in with it (static passdb); XOAUTH2 takes it as token
CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = privacybot-test-{port}
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
log_path = {root}/dovecot.log
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:{root}/mail/%u
first_valid_uid = 0
mail_privileged_group =
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
{extra}
"""


def required() -> bool:
    """True when a missing Dovecot must fail the run instead of skipping its tests."""
    return any(os.environ.get(n, "").strip() not in ("", "0", "false") for n in REQUIRE_ENV)


def unavailable(reason: str) -> NoReturn:
    if required():
        pytest.fail(f"Dovecot is required (CI / PRIVACYBOT_REQUIRE_SERVICES) but {reason}")
    pytest.skip(f"no IMAP server for the email tests: {reason} "
                "(install Debian's dovecot-imapd)")  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dovecot:
    """One running Dovecot: plain IMAP (STARTTLS offered) on `port`, IMAPS on `tls_port`."""

    root: Path
    port: int
    tls_port: int
    cert: Path | None
    process: subprocess.Popen[bytes] | None = None

    def new_user(self) -> str:
        """A fresh mailbox owner: every test gets its own empty maildir."""
        return f"u{uuid.uuid4().hex[:12]}"

    def log_tail(self) -> str:
        logs = [self.root / "stderr.log", self.root / "dovecot.log"]
        return "".join(p.read_text(errors="replace")[-20000:] for p in logs if p.exists())


def _run_as() -> tuple[list[str], str, str]:
    """(command prefix, user, group): as root the server runs as Debian's `dovecot` user."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        import grp

        return [], entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name
    try:
        pwd.getpwnam("dovecot")
    except KeyError:
        unavailable("the `dovecot` system user does not exist")
    return ["runuser", "-u", "dovecot", "--"], "dovecot", "dovecot"


def _certificate(root: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1/localhost (None without the openssl tool)."""
    tool = shutil.which("openssl")
    if tool is None:
        return None
    cert, key = root / "cert.pem", root / "key.pem"
    proc = subprocess.run(
        [tool, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return (cert, key) if proc.returncode == 0 else None


def _wait_listening(server: Dovecot, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"dovecot exited with {server.process.returncode}:\n"
                               f"{server.log_tail()}")  # fmt: skip
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen within the time limit:\n{server.log_tail()}")


@contextlib.contextmanager
def running_dovecot(extra: str = "") -> Iterator[Dovecot]:
    """Start Dovecot in a temp dir (foreground process), yield it, stop it and clean up.
    `extra` is appended to its configuration (e.g. an `imap_capability` without IDLE)."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        unavailable("the `dovecot` program is not installed")
    prefix, user, group = _run_as()
    root = Path(tempfile.mkdtemp(prefix="privacybot-dovecot-"))
    server: Dovecot | None = None
    try:
        root.chmod(0o755)
        pair = _certificate(root)
        server = Dovecot(root, free_port(), free_port(), pair[0] if pair else None)
        ssl_files = f"ssl_cert = <{pair[0]}\nssl_key = <{pair[1]}" if pair else ""
        conf = root / "dovecot.conf"
        conf.write_text(CONFIG.format(
            root=root, port=server.port, tls_port=server.tls_port, user=user, group=group,
            ssl="yes" if pair else "no", ssl_files=ssl_files, password=PASSWORD, extra=extra,
        ))  # fmt: skip
        if prefix:
            subprocess.run(["chown", "-R", f"{user}:{group}", str(root)], check=True)
        with (root / "stderr.log").open("wb") as errors:
            server.process = subprocess.Popen(
                [*prefix, binary, "-F", "-c", str(conf)], stdout=errors, stderr=errors
            )
        try:
            _wait_listening(server, time.monotonic() + 20)
        except RuntimeError as exc:
            unavailable(str(exc))
        yield server
    finally:
        if server is not None and server.process is not None:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(5)
        shutil.rmtree(root, ignore_errors=True)


async def imap_client(server: Dovecot, user: str, mailbox: str = "INBOX") -> aioimaplib.IMAP4:
    """A logged-in client with `mailbox` selected (for putting mail in and looking at flags)."""
    client = aioimaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    await client.wait_hello_from_server()
    assert (await client.login(user, PASSWORD)).result == "OK"
    assert (await client.select(mailbox)).result == "OK"
    return client


async def append(server: Dovecot, user: str, *messages: bytes) -> None:
    """Deliver `messages` into the user's INBOX over IMAP (APPEND), unread."""
    client = await imap_client(server, user)
    try:
        for raw in messages:
            assert (await client.append(raw, mailbox="INBOX")).result == "OK"
    finally:
        await client.logout()


async def flags(server: Dovecot, user: str) -> list[set[str]]:
    """The flags of every message in the user's INBOX, in mailbox order."""
    client = await imap_client(server, user)
    try:
        response = await client.fetch("1:*", "(FLAGS)")
    finally:
        await client.logout()
    found: list[set[str]] = []
    for line in response.lines:
        text = bytes(line).decode("utf-8", "replace")
        if " FETCH " in text and "FLAGS (" in text:
            found.append(set(text.split("FLAGS (", 1)[1].split(")", 1)[0].split()))
    return found
