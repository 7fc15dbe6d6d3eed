"""Settings: one frozen dataclass, read once from the environment (after `.env`) at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.errors import ConfigError

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass(frozen=True)
class SmtpSettings:
    """Where outbound mail goes (`SMTP_URL`): smtp:// (STARTTLS when offered) or smtps://."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    use_tls: bool
    start_tls: bool | None  # None: use STARTTLS if the server offers it


@dataclass(frozen=True)
class ImapSettings:
    """The privacy mailbox the worker reads (`IMAP_URL`, `IMAP_PASSWORD` or `IMAP_OAUTH2_TOKEN`)."""

    host: str
    port: int
    username: str
    password: str | None = field(repr=False)
    oauth2_token: str | None = field(repr=False)
    mailbox: str
    use_tls: bool
    start_tls: bool
    poll_seconds: float
    keyword: str


@dataclass(frozen=True)
class SlackSettings:
    """The Slack app's tokens and options."""

    bot_token: str = field(repr=False)
    signing_secret: str | None = field(repr=False)
    app_token: str | None = field(repr=False)
    api_url: str
    channels: frozenset[str]
    escalation_channel: str | None


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build with `Settings.from_env(os.environ)`."""

    data_dir: Path = Path("var")
    knowledge_dir: Path | None = None
    database_url: str | None = field(default=None, repr=False)
    smtp: SmtpSettings | None = None
    mail_from: str = "privacy@ciemtech.com"
    privacy_team_address: str = "privacy@ciemtech.com"
    message_id_domain: str = "privacybot.ciemtech.com"
    imap: ImapSettings | None = None
    inbound_secret: str | None = field(default=None, repr=False)
    slack: SlackSettings | None = None
    api_token: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_format: str = "text"
    retention_days: int = 90
    auto_reply_limit: int = 5
    ask_rate_per_minute: int = 600
    max_request_bytes: int = 1_048_576
    trust_proxy: bool = False

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "privacybot.sqlite3"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset({self.mail_from.lower(), self.privacy_team_address.lower()})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check every variable; a bad one raises ConfigError naming it."""
        get = _Reader(env)
        slack_token = get.get("SLACK_BOT_TOKEN")
        slack = None
        if not slack_token:
            for orphan in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
                if get.get(orphan):
                    raise ConfigError(
                        f"{orphan} is set but SLACK_BOT_TOKEN is not: set both, or neither"
                    )
        if slack_token:
            if not slack_token.startswith("xoxb-"):
                raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
            app_token = get.get("SLACK_APP_TOKEN")
            if app_token and not app_token.startswith("xapp-"):
                raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
            secret = get.get("SLACK_SIGNING_SECRET")
            if not secret and not app_token:
                raise ConfigError(
                    "SLACK_SIGNING_SECRET (HTTP events) or SLACK_APP_TOKEN (Socket Mode) is required with SLACK_BOT_TOKEN"
                )
            slack = SlackSettings(
                slack_token, secret, app_token,
                get.url("SLACK_API_URL", "https://slack.com/api/"),
                frozenset(c for c in get.text("SLACK_CHANNELS", "").replace(",", " ").split() if c),
                get.get("SLACK_ESCALATION_CHANNEL"),
            )  # fmt: skip
        return cls(
            data_dir=Path(get.text("DATA_DIR", "var")),
            knowledge_dir=Path(k) if (k := get.get("KNOWLEDGE_DIR")) else None,
            database_url=_database_url(get.get("DATABASE_URL")),
            smtp=_smtp(get.get("SMTP_URL")),
            mail_from=get.address("MAIL_FROM", "privacy@ciemtech.com"),
            privacy_team_address=get.address("PRIVACY_TEAM_ADDRESS", "privacy@ciemtech.com"),
            message_id_domain=get.text("MESSAGE_ID_DOMAIN", "privacybot.ciemtech.com"),
            imap=_imap(get),
            inbound_secret=get.get("INBOUND_SECRET"),
            slack=slack,
            api_token=get.get("API_TOKEN"),
            host=get.text("HOST", "127.0.0.1"),
            port=get.integer("PORT", 8080, 0, 65535),
            log_level=get.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            log_format=get.choice("LOG_FORMAT", "text", ("text", "json")),
            retention_days=get.integer("RETENTION_DAYS", 90, 1, 36500),
            auto_reply_limit=get.integer("AUTO_REPLY_LIMIT_PER_DAY", 5, 0, 10_000),
            ask_rate_per_minute=get.integer("ASK_RATE_PER_MINUTE", 600, 1, 1_000_000),
            max_request_bytes=get.integer("MAX_REQUEST_BYTES", 1_048_576, 1024, 100_000_000),
            trust_proxy=get.boolean("TRUST_PROXY", False),
        )


def load_settings() -> Settings:
    """The one way a process reads its settings: `.env` of the working directory (if any)
    fills in what the environment does not set, then everything is checked."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)
    return Settings.from_env(os.environ)


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str) -> str | None:
        """The stripped value, or None when unset or empty."""
        return self.env.get(name, "").strip() or None

    def text(self, name: str, default: str) -> str:
        return self.get(name) or default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        value = {"1": True, "true": True, "0": False, "false": False}.get(raw.lower())
        if value is None:
            raise ConfigError(f"{name} must be true, false, 1 or 0, not {raw!r}")
        return value

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = self.text(name, default)
        raw = value.upper() if default.isupper() else value.lower()
        if raw not in options:
            raise ConfigError(f"{name} must be one of {', '.join(options)}, not {raw!r}")
        return raw

    def address(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not _ADDRESS.match(value):
            raise ConfigError(f"{name} must be an email address, not {value!r}")
        return value

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if urlsplit(value).scheme not in ("http", "https"):
            raise ConfigError(f"{name} must be an http(s) URL, not {value!r}")
        return value if value.endswith("/") else value + "/"


def _database_url(value: str | None) -> str | None:
    if value is None:
        return None
    if urlsplit(value).scheme not in ("postgres", "postgresql"):
        raise ConfigError("DATABASE_URL must start with postgres:// or postgresql://")
    return value


def _smtp(value: str | None) -> SmtpSettings | None:
    if value is None:
        return None
    url = urlsplit(value)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ConfigError(
            "SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465"
        )
    tls = url.scheme == "smtps"
    query = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p)
    starttls = {"1": True, "true": True, "0": False, "false": False}.get(
        query.get("starttls", "").lower()
    )
    try:
        port = url.port or (465 if tls else 587)
    except ValueError:
        raise ConfigError("SMTP_URL has a bad port") from None
    return SmtpSettings(
        url.hostname, port, unquote(url.username) if url.username else None,
        unquote(url.password) if url.password else None, tls, None if tls else starttls,
    )  # fmt: skip


def _imap(get: _Reader) -> ImapSettings | None:
    value = get.get("IMAP_URL")
    if value is None:
        return None
    url = urlsplit(value)
    if url.scheme not in ("imap", "imaps") or not url.hostname or not url.username:
        raise ConfigError("IMAP_URL must look like imaps://user@host:993/INBOX")
    password, token = get.get("IMAP_PASSWORD"), get.get("IMAP_OAUTH2_TOKEN")
    if not password and not token:
        raise ConfigError("IMAP_PASSWORD or IMAP_OAUTH2_TOKEN is required with IMAP_URL")
    tls = url.scheme == "imaps"
    try:
        port = url.port or (993 if tls else 143)
    except ValueError:
        raise ConfigError("IMAP_URL has a bad port") from None
    query = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p)
    return ImapSettings(
        url.hostname, port, unquote(url.username), password, token,
        unquote(url.path.lstrip("/")) or "INBOX", tls,
        not tls and query.get("starttls", "true").lower() not in ("0", "false"),
        float(get.integer("IMAP_POLL_SECONDS", 60, 1, 86_400)),
        get.text("IMAP_KEYWORD", "$PrivacyBot"),
    )  # fmt: skip
