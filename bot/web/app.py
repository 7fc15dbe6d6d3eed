"""The one application factory: shared state, start-up and shutdown, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bot.brain import Brain
from bot.config import Settings
from bot.gaps import GapRecorder
from bot.metrics import Metrics
from bot.store import Store, open_store
from bot.web import handlers
from bot.web.cache import AnswerCache
from bot.web.keys import ANSWERS, BRAIN, GAPS, LIMITER, METRICS, SETTINGS, STORE
from bot.web.middleware import observe
from bot.web.ratelimit import TokenBucket

log = logging.getLogger("bot.web")


def create_app(
    settings: Settings, *, brain: Brain | None = None, store: Store | None = None
) -> web.Application:
    """Build the service (and the core, unless given); no connection is made until it starts.

    A store passed in belongs to the caller (not migrated, not closed); without one the app
    opens the configured store, migrates it when it is SQLite, and closes it at shutdown.
    """
    app = web.Application(client_max_size=settings.max_request_bytes, middlewares=[observe])
    brain = brain if brain is not None else Brain.from_folder(settings.knowledge_dir)
    owned = store is None
    store = store if store is not None else open_store(settings.database_url, settings.sqlite_path)
    metrics = Metrics()
    policy = brain.knowledge.policy
    metrics.info.labels(policy.sha256, str(policy.effective_date)).set(1)
    app[SETTINGS] = settings
    app[BRAIN] = brain
    app[ANSWERS] = AnswerCache(brain)
    app[STORE] = store
    app[METRICS] = metrics
    app[LIMITER] = TokenBucket(settings.ask_rate_per_minute)
    app[GAPS] = GapRecorder(store, on_outcome=lambda outcome: metrics.gaps.labels(outcome).inc())
    app.router.add_post("/ask", handlers.ask)
    app.router.add_get("/healthz", handlers.healthz, allow_head=True)
    app.router.add_get("/readyz", handlers.readyz, allow_head=True)
    app.router.add_get("/metrics", handlers.metrics)
    _mount_doors(app, settings, brain, store, metrics)
    app.cleanup_ctx.append(_store_lifecycle(owned))
    return app


def _mount_doors(
    app: web.Application, settings: Settings, brain: Brain, store: Store, metrics: Metrics
) -> None:
    """POST /inbound/email when INBOUND_SECRET is set; POST /slack/events when Slack is
    configured with a signing secret (HTTP Events API rather than Socket Mode only)."""
    email = settings.inbound_secret is not None
    slack = settings.slack is not None and settings.slack.signing_secret is not None
    if not (email or slack):
        return
    from bot.parts import build_parts

    parts = build_parts(settings, store, metrics, brain, email=email, slack=slack)
    if settings.inbound_secret is not None and parts.email_door is not None:
        from bot.mail import webhook

        app[webhook.EMAIL_DOOR] = parts.email_door
        app[webhook.INBOUND_SECRET] = settings.inbound_secret
        app.router.add_post("/inbound/email", webhook.inbound_email)
    if parts.slack_app is not None:
        from bot.slack import http

        app[http.SLACK_HANDLER] = parts.slack_app
        app.router.add_post("/slack/events", http.slack_events)
    log.info("doors: %s", ", ".join(
        name for name, on in (("/inbound/email", email), ("/slack/events", slack)) if on
    ))  # fmt: skip


def _store_lifecycle(owned: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]
        if owned and store.backend == "sqlite":
            version = await store.migrate()
            log.info("SQLite store ready (schema %d)", version)
        yield
        await app[GAPS].aclose()
        if owned:
            await store.close()

    return lifecycle
