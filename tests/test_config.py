"""Settings: defaults with no configuration, and one clear error naming a bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError


def test_no_configuration_gives_working_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None and settings.smtp is None and settings.imap is None
    assert settings.sqlite_path == Path("var") / "privacybot.sqlite3"
    assert settings.port == 8080 and settings.retention_days == 90
    assert settings.privacy_team_address == "privacy@ciemtech.com"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SMTP_URL": "http://mail"}, "SMTP_URL"),
        ({"IMAP_URL": "imaps://user@host/INBOX"}, "IMAP_PASSWORD"),
        ({"IMAP_URL": "ftp://host"}, "IMAP_URL"),
        ({"SLACK_BOT_TOKEN": "nope"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "bad"}, "SLACK_APP_TOKEN"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS"),
        ({"PRIVACY_TEAM_ADDRESS": "not an address"}, "PRIVACY_TEAM_ADDRESS"),
        ({"TRUST_PROXY": "yes"}, "TRUST_PROXY"),
    ],
)
def test_a_bad_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        Settings.from_env(env)
    assert "\n" not in str(raised.value)


def test_urls_are_parsed() -> None:
    settings = Settings.from_env({
        "DATABASE_URL": "postgres://u:p@db/x",
        "SMTP_URL": "smtps://bot%40x.dk:s3cret@mail.x.dk",
        "IMAP_URL": "imap://bot@mail.x.dk:1143/Privacy?starttls=false",
        "IMAP_OAUTH2_TOKEN": "tok",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_CHANNELS": "C1, C2",
    })  # fmt: skip
    assert settings.database_url == "postgres://u:p@db/x"
    assert settings.smtp is not None and settings.smtp.port == 465 and settings.smtp.use_tls
    assert settings.smtp.username == "bot@x.dk" and settings.smtp.password == "s3cret"
    assert settings.imap is not None and settings.imap.port == 1143 and not settings.imap.start_tls
    assert settings.imap.mailbox == "Privacy" and settings.imap.oauth2_token == "tok"
    assert settings.slack is not None and settings.slack.channels == frozenset({"C1", "C2"})


def test_secrets_are_not_in_repr() -> None:
    settings = Settings.from_env({"SMTP_URL": "smtp://u:topsecret@h", "API_TOKEN": "tok123"})
    assert "topsecret" not in repr(settings) and "tok123" not in repr(settings)


def test_trust_proxy_is_off_unless_set() -> None:
    assert Settings.from_env({}).trust_proxy is False
    assert Settings.from_env({"TRUST_PROXY": "true"}).trust_proxy is True
    assert Settings.from_env({"TRUST_PROXY": "1"}).trust_proxy is True
    assert Settings.from_env({"TRUST_PROXY": "False"}).trust_proxy is False
    assert Settings.from_env({"TRUST_PROXY": "0"}).trust_proxy is False
