"""The parts a process wires up (outbound mail, tickets, doors), metered, when configured."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.brain import Brain
from bot.config import Settings
from bot.mail.door import EmailDoor, Outcome
from bot.mailer import Mailer
from bot.metrics import Metrics
from bot.store import Store, Ticket
from bot.tickets import TicketService

if TYPE_CHECKING:  # slack_bolt is imported only by a process that runs the Slack door
    from slack_bolt.async_app import AsyncApp


class MeteredTickets(TicketService):
    """The TicketService, counting every ticket it creates by kind and door."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    async def open_ticket(self, *args: Any, **kwargs: Any) -> tuple[Ticket, bool]:
        ticket, created = await super().open_ticket(*args, **kwargs)
        if created:
            self.metrics.ticket(ticket.kind, ticket.channel)
        return ticket, created


class MeteredEmailDoor(EmailDoor):
    """The email door, counting every message by what became of it (and its knowledge gaps),
    and timing it."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    async def handle(self, raw: bytes, *, worker: str) -> Outcome:
        started = time.perf_counter()
        outcome = await super().handle(raw, worker=worker)
        action = "replayed" if outcome.replayed else outcome.action
        self.metrics.email(action, time.perf_counter() - started)
        return outcome

    def gap_kept(self, outcome: str) -> None:
        self.metrics.gaps.labels(outcome).inc()


@dataclass(frozen=True)
class Parts:
    """What was built; None for a part this process does not run."""

    mailer: Mailer
    tickets: TicketService | None = None
    email_door: EmailDoor | None = None
    slack_app: AsyncApp | None = None


def build_parts(
    settings: Settings,
    store: Store,
    metrics: Metrics,
    brain: Brain | None = None,
    *,
    email: bool = False,
    slack: bool = False,
) -> Parts:
    """The Mailer always; with a brain the TicketService too, the email door when `email`
    and the Slack app when `slack` (and SLACK_BOT_TOKEN is set). No I/O happens here."""
    mailer = Mailer(settings, store)
    if brain is None:
        return Parts(mailer)
    tickets = MeteredTickets(store, mailer, brain, settings, metrics=metrics)
    door = None
    if email:
        door = MeteredEmailDoor(brain, store, tickets, mailer, settings, metrics=metrics)
    slack_app = None
    if slack and settings.slack is not None:
        from bot.slack.app import build_slack_app

        slack_app = build_slack_app(settings.slack, brain, tickets, store, metrics)
    return Parts(mailer, tickets, door, slack_app)
