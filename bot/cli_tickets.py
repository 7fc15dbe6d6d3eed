"""The privacy team's commands: `migrate`, `tickets list|show|close|extend|verify` and
`outbox list|flush|retry`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from bot.config import Settings, load_settings
from bot.deadlines import is_overdue
from bot.errors import NotFound
from bot.logs import mask_address
from bot.mailer import Mailer
from bot.store import OutboxItem, Store, Ticket, open_store
from bot.ticket_mail import load_ticket_texts
from bot.tickets import TicketService

Handler = Callable[[argparse.Namespace], int]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ticket, outbox and migrate commands to the `privacybot` parser."""
    migrate = sub.add_parser("migrate", help="create or upgrade the ticket store's schema")
    migrate.set_defaults(handler=_run(cmd_migrate))

    tickets = sub.add_parser("tickets", help="list, show, close and extend request tickets")
    actions = tickets.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="tickets as a table, oldest first")
    listing.add_argument("--open", action="store_true", help="only tickets still open")
    listing.add_argument("--overdue", action="store_true", help="only open tickets past due")
    listing.set_defaults(handler=_run(cmd_list))
    show = actions.add_parser("show", help="every field of a ticket and its history")
    show.add_argument("ticket_id", metavar="ID")
    show.set_defaults(handler=_run(cmd_show))
    close = actions.add_parser("close", help="close a ticket as done (or --rejected)")
    close.add_argument("ticket_id", metavar="ID")
    close.add_argument("--note", required=True, help="what was done (kept in the history)")
    close.add_argument("--rejected", action="store_true", help="close as rejected, not done")
    close.add_argument("--actor", help="who acts (default: your login name)")
    close.set_defaults(handler=_run(cmd_close))
    extend = actions.add_parser(
        "extend", help="extend the deadline by two months; tells the requester"
    )
    extend.add_argument("ticket_id", metavar="ID")
    extend.add_argument("--reason", required=True, help="why (sent to the requester)")
    extend.add_argument("--actor", help="who acts (default: your login name)")
    extend.set_defaults(handler=_run(cmd_extend))
    verify = actions.add_parser(
        "verify", help="record that the requester's identity is confirmed (-> open)"
    )
    verify.add_argument("ticket_id", metavar="ID")
    verify.add_argument("--note", required=True, help="how it was confirmed (kept in the history)")
    verify.add_argument("--actor", help="who acts (default: your login name)")
    verify.set_defaults(handler=_run(cmd_verify))

    outbox = sub.add_parser("outbox", help="the queue of outgoing mail that failed to send")
    outbox_actions = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    mail_list = outbox_actions.add_parser("list", help="queued and dead mail as a table")
    mail_list.add_argument("--all", action="store_true", help="sent mail too")
    mail_list.set_defaults(handler=_run(cmd_outbox_list))
    flush = outbox_actions.add_parser("flush", help="retry the queued mail that is due")
    flush.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    flush.set_defaults(handler=_run(cmd_flush))
    retry = outbox_actions.add_parser("retry", help="queue a dead message again, due now")
    retry.add_argument("mail_id", metavar="ID", type=int)
    retry.set_defaults(handler=_run(cmd_retry))


@dataclass
class Context:
    """What a command works with: settings, a migrated store, the mailer and the service."""

    settings: Settings
    store: Store
    knowledge: Path | None

    def mailer(self) -> Mailer:
        return Mailer(self.settings, self.store)

    def service(self) -> TicketService:
        from bot.brain import Brain

        brain = Brain.from_folder(self.knowledge)
        texts = load_ticket_texts(self.knowledge) if self.knowledge else None
        return TicketService(self.store, self.mailer(), brain, self.settings, texts=texts)


@asynccontextmanager
async def opened(args: argparse.Namespace) -> AsyncIterator[Context]:
    settings = load_settings()
    store = open_store(settings.database_url, settings.sqlite_path)
    try:
        await store.migrate()
        folder = getattr(args, "knowledge", None)
        yield Context(settings, store, Path(folder) if folder else settings.knowledge_dir)
    finally:
        await store.close()


def _run(command: Callable[[argparse.Namespace], Coroutine[None, None, int]]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        return asyncio.run(command(args))

    handler.__doc__ = command.__doc__
    return handler


async def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the schema; prints the version."""
    async with opened(args) as ctx:
        print(f"{ctx.store.backend} store at schema version {await ctx.store.migrate()}")
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        today = datetime.now(UTC).date()
        found = await ctx.store.list_tickets(
            open_only=args.open, overdue_on=today if args.overdue else None
        )
    if not found:
        print("no tickets" if not (args.open or args.overdue) else "no matching tickets")
        return 0
    print(table(found, today))
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        ticket = await ctx.store.get_ticket(args.ticket_id.strip().upper())
        mail = await ctx.store.list_mail(ticket_id=ticket.id, include_sent=True) if ticket else []
    if ticket is None:
        raise NotFound(f"no ticket {args.ticket_id.strip()}")
    print(describe(ticket, datetime.now(UTC).date()))
    if mail:
        print("\nmail:\n" + "\n".join(f"  {line}" for line in mail_table(mail).splitlines()))
    return 0


async def cmd_close(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        status = "rejected" if args.rejected else "done"
        ticket = await ctx.service().close(
            args.ticket_id, actor=_actor(args), note=args.note, status=status
        )
    print(f"{ticket.id} closed as {ticket.status}")
    return 0


async def cmd_extend(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        ticket = await ctx.service().extend(args.ticket_id, actor=_actor(args), reason=args.reason)
    told = "; the requester was told" if "@" in ticket.requester else ""
    print(f"{ticket.id} extended: due {ticket.effective_due_date}{told}")
    return 0


async def cmd_verify(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        ticket = await ctx.service().verify_identity(
            args.ticket_id, actor=_actor(args), note=args.note
        )
    print(f"{ticket.id}: identity verified; status {ticket.status}")
    return 0


async def cmd_outbox_list(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        found = await ctx.store.list_mail(include_sent=args.all)
    print(mail_table(found) if found else "the outbox is empty")
    return 0


async def cmd_retry(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        item = await ctx.store.retry_mail(args.mail_id, datetime.now(UTC))
    print(f"outbox #{item.id} ({item.purpose}) queued again: the next flush sends it")
    return 0


async def cmd_flush(args: argparse.Namespace) -> int:
    async with opened(args) as ctx:
        sent = await ctx.mailer().flush(limit=max(1, args.limit))
    print(f"delivered {sent} queued message(s)")
    return 0


def _actor(args: argparse.Namespace) -> str:
    if args.actor and args.actor.strip():
        return str(args.actor).strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def table(tickets: Sequence[Ticket], today: date) -> str:
    """An aligned table of tickets: id, kind, status, due (flagged when overdue), requester."""
    rows = [("ID", "KIND", "STATUS", "DUE", "REQUESTER")]
    for t in tickets:
        due = t.effective_due_date.isoformat()
        if t.is_open and is_overdue(t.effective_due_date, today):
            due += " OVERDUE"
        rows.append((t.id, t.kind, t.status, due, mask_address(t.requester)))
    return aligned(rows)


def mail_table(items: Sequence[OutboxItem]) -> str:
    """Outbox messages as a table: id, purpose, ticket, state, attempts, when, last error."""
    rows = [("ID", "PURPOSE", "TICKET", "STATE", "ATTEMPTS", "WHEN", "LAST ERROR")]
    for m in items:
        when = m.sent_at or m.dead_at or m.next_attempt_at
        state = "claimed" if m.state == "queued" and m.claimed_by else m.state
        error = (m.last_error or "-") if m.state != "sent" else "-"
        rows.append((str(m.id), m.purpose, m.ticket_id or "-", state, str(m.attempts),
                     _when(when), error[:80]))  # fmt: skip
    return aligned(rows)


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """Rows as text columns two spaces apart, each as wide as its widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def describe(t: Ticket, today: date) -> str:
    """Every field of a ticket, then its history, oldest first."""
    due = f"{t.due_date}" + (f" (extended to {t.extended_due_date})" if t.extended_due_date else "")
    if t.is_open and is_overdue(t.effective_due_date, today):
        due += " OVERDUE"
    fields = [
        ("ticket", t.id),
        ("kind", t.kind),
        ("status", t.status),
        ("requester", t.requester),
        ("name", t.requester_name or "-"),
        ("channel", t.channel),
        ("language", t.lang),
        ("received", _when(t.received_at)),
        ("due", due),
        ("identity", "verified" if t.identity_verified else "not verified"),
        ("on behalf", "yes: check the requester's authority" if t.on_behalf_of_other else "no"),
        ("sections", ", ".join(t.sections) or "-"),
        ("routes", ", ".join(t.routes) or "-"),
        ("subject", t.subject or "-"),
        ("source", t.source_message_id),
        ("policy", t.policy_hash),
        ("created", _when(t.created_at)),
        ("closed", _when(t.closed_at) if t.closed_at else "-"),
    ]
    width = max(len(k) for k, _ in fields) + 2
    lines = [f"{k + ':':<{width}}{v}" for k, v in fields]
    if t.route_note:
        lines += ["", "route notes:", *(f"  {n}" for n in t.route_note.splitlines())]
    lines += [
        "",
        "original text:",
        *(f"  > {x}" for x in t.original_text.splitlines() or ["(purged)"]),
    ]
    lines += ["", "history:"]
    for h in t.history:
        change = f"{h.from_status or '-'} -> {h.to_status}" if h.to_status else ""
        note = f"  {h.note}" if h.note else ""
        lines.append(f"  {_when(h.at)}  {h.actor}  {h.action}  {change}{note}".rstrip())
    return "\n".join(lines)


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
