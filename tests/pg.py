"""Fixtures giving tests a real, throwaway PostgreSQL server (Debian's packages) on loopback."""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

REQUIRE_ENV = ("CI", "PRIVACYBOT_REQUIRE_POSTGRES", "PRIVACYBOT_REQUIRE_SERVICES")


def postgres_required() -> bool:
    """True when a missing PostgreSQL must fail the run instead of skipping its tests."""
    return any(os.environ.get(name, "").strip() not in ("", "0", "false") for name in REQUIRE_ENV)


def find_bindir() -> Path | None:
    """The newest Debian PostgreSQL bin directory, or the one holding `initdb` on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TempPostgres:
    """A PostgreSQL cluster in a temp dir, running as the `postgres` user when we are root."""

    bindir: Path
    root: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return [*prefix, *args]

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({proc.returncode}): "
                f"{proc.stderr.strip() or proc.stdout.strip()}\n{tail}"
            )

    def start(self) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # KeyError when Debian's package is not installed
            os.chown(self.root, user.pw_uid, user.pw_gid)
        data = self.root / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        last: Exception | None = None
        for _ in range(3):  # another process may take the free port before the server does
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                )
                return
            except RuntimeError as exc:
                last = exc
        raise RuntimeError(f"PostgreSQL did not start: {last}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(reason: str) -> NoReturn:
    if postgres_required():
        pytest.fail(
            f"PostgreSQL is required here (CI / PRIVACYBOT_REQUIRE_POSTGRES): {reason}",
            pytrace=False,
        )
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Admin URL of a PostgreSQL server: $DATABASE_URL, else a throwaway local cluster."""
    given = os.environ.get("DATABASE_URL", "").strip()
    if given:
        yield given
        return
    bindir = find_bindir()
    if bindir is None:
        _unavailable(
            "no initdb in /usr/lib/postgresql/*/bin or on PATH "
            "(apt-get install postgresql, or run scripts/start-postgres.sh)"
        )
    server = TempPostgres(bindir, Path(tempfile.mkdtemp(prefix="privacybot-pg-")))
    try:
        server.start()
    except (OSError, KeyError, RuntimeError, subprocess.SubprocessError) as exc:
        server.stop()
        _unavailable(f"could not start {bindir}: {exc!r}")
    try:
        yield server.url
    finally:
        server.stop()


def with_search_path(url: str, schema: str) -> str:
    """`url` with `search_path` set as a server setting (asyncpg reads it from the query)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"]
    query.append(("search_path", schema))
    return parts._replace(query=urlencode(query)).geturl()


@pytest.fixture
async def postgres_database_url(postgres_url: str) -> AsyncIterator[str]:
    """A URL whose objects all land in a fresh, empty schema, dropped after the test."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    try:
        yield with_search_path(postgres_url, schema)
    finally:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


@contextlib.contextmanager
def temporary_postgres(label: str) -> Iterator[str | None]:
    """A throwaway server for scripts (benchmarks): its URL, or None after printing why not."""
    bindir = find_bindir()
    if bindir is None:
        print(f"{label}: skipped (no initdb; apt-get install postgresql)")
        yield None
        return
    server = TempPostgres(bindir, Path(tempfile.mkdtemp(prefix="bench-pg-")))
    try:
        try:
            server.start()
        except (OSError, RuntimeError, KeyError) as exc:
            print(f"{label}: skipped, the server could not start: {exc}")
            yield None
            return
        yield server.url
    finally:
        server.stop()
