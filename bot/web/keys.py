"""The typed keys under which the web application keeps its shared state."""

from __future__ import annotations

from aiohttp import web

from bot.brain import Brain
from bot.config import Settings
from bot.gaps import GapRecorder
from bot.metrics import Metrics
from bot.store import Store
from bot.web.cache import AnswerCache
from bot.web.ratelimit import TokenBucket

SETTINGS = web.AppKey("settings", Settings)
BRAIN = web.AppKey("brain", Brain)
ANSWERS = web.AppKey("answers", AnswerCache)
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
GAPS = web.AppKey("gaps", GapRecorder)
LIMITER = web.AppKey("ask_limiter", TokenBucket)
