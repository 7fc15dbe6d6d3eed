"""The exceptions privacybot raises, under one base class."""


class PrivacyBotError(Exception):
    """Base class of every error privacybot raises on purpose."""


class ConfigError(PrivacyBotError, ValueError):
    """A setting is missing or has a bad value; the message names the variable."""


class KnowledgeError(PrivacyBotError, ValueError):
    """A file in knowledge/ is missing, unreadable or inconsistent with the policy."""


class StoreError(PrivacyBotError, RuntimeError):
    """The ticket store could not be reached or refused an operation."""


class MailError(PrivacyBotError, RuntimeError):
    """Outbound mail could not be delivered (it stays queued for a retry)."""


class NotFound(PrivacyBotError, LookupError):
    """A ticket or other record that was asked for does not exist."""
