"""Prometheus metrics in a registry of their own: requests, answers, tickets, email, latency."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# Latency buckets in seconds: answers take about a millisecond, mail and Slack much longer.
_FAST: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SLOW: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Every metric privacybot exports; one instance per process, shared by all doors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "privacybot_http_requests", "HTTP requests by route, method and status",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.http_seconds = Histogram(
            "privacybot_http_request_duration_seconds", "HTTP request latency by route",
            ["route"], buckets=_FAST, registry=r,
        )  # fmt: skip
        self.answers = Counter(
            "privacybot_answers", "Questions answered or declined (abstained), by door",
            ["channel", "outcome"], registry=r,
        )  # fmt: skip
        self.answer_seconds = Histogram(
            "privacybot_answer_duration_seconds", "Time the core takes to answer, by door",
            ["channel"], buckets=_FAST, registry=r,
        )  # fmt: skip
        self.answer_cache = Counter(
            "privacybot_answer_cache", "HTTP answers served from the answer cache (hit) or not",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.gaps = Counter(
            "privacybot_knowledge_gaps", "Knowledge gaps recorded (outcome: stored or dropped)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.tickets = Counter(
            "privacybot_tickets", "Escalation tickets created, by request kind and door",
            ["kind", "channel"], registry=r,
        )  # fmt: skip
        self.email_actions = Counter(
            "privacybot_email_actions", "Inbound emails handled, by action (reply, ticket, ...)",
            ["action"], registry=r,
        )  # fmt: skip
        self.email_seconds = Histogram(
            "privacybot_email_duration_seconds", "Time to handle one inbound email",
            buckets=_SLOW, registry=r,
        )  # fmt: skip
        self.mail_flushes = Counter(
            "privacybot_outbox_flushes", "Outbox flush rounds, by outcome",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.rate_limited = Counter(
            "privacybot_rate_limited", "Requests refused by the per-client rate limit",
            ["route"], registry=r,
        )  # fmt: skip
        self.purged = Counter(
            "privacybot_retention_purged_rows", "Rows purged by the retention job, by table",
            ["table"], registry=r,
        )  # fmt: skip
        self.info = Gauge(
            "privacybot_policy_info", "The policy in force (value 1), labelled by hash and date",
            ["sha256", "effective_date"], registry=r,
        )  # fmt: skip

        self._hit, self._miss = self.answer_cache.labels("hit"), self.answer_cache.labels("miss")
        # label children by their label values: `labels()` costs more than the update itself
        self._children: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}

    def _pair(self, key: tuple[str, ...]) -> tuple[Counter, Histogram]:
        pair = self._children.get(key)
        if pair is None:
            if key[0] == "http":
                pair = (self.http_requests.labels(*key[1:]), self.http_seconds.labels(key[1]))
            else:
                pair = (self.answers.labels(*key[1:]), self.answer_seconds.labels(key[1]))
            self._children[key] = pair
        return pair

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency."""
        counter, histogram = self._pair(("http", route, method, str(status)))
        counter.inc()
        histogram.observe(seconds)

    def answer(
        self, channel: str, answered: bool, seconds: float, cached: bool | None = None
    ) -> None:
        """Count one answer (or abstention) from a door and its latency; `cached` tells
        whether it came from the answer cache (None: the door has no cache)."""
        outcome = "answered" if answered else "abstained"
        counter, histogram = self._pair(("answer", channel, outcome))
        counter.inc()
        histogram.observe(seconds)
        if cached is not None:
            (self._hit if cached else self._miss).inc()

    def ticket(self, kind: str, channel: str) -> None:
        """Count one escalation ticket created."""
        self.tickets.labels(kind, channel).inc()

    def email(self, action: str, seconds: float) -> None:
        """Count one inbound email by what was done with it, and how long it took."""
        self.email_actions.labels(action).inc()
        self.email_seconds.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (serve with CONTENT_TYPE)."""
        return generate_latest(self.registry)
