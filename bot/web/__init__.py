"""The HTTP door: one aiohttp application with the API, health, metrics and the webhooks."""

from bot.web.app import create_app
from bot.web.keys import BRAIN, GAPS, LIMITER, METRICS, SETTINGS, STORE

__all__ = ["BRAIN", "GAPS", "LIMITER", "METRICS", "SETTINGS", "STORE", "create_app"]
