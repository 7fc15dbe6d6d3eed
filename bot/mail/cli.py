"""`privacybot triage [--json] FILE.eml ...`: the email door as a dry run (nothing sent or kept)."""

from __future__ import annotations

import argparse
import json
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Final

from bot.brain import Brain
from bot.clock import utcnow
from bot.config import Settings
from bot.knowledge import default_dir
from bot.mail.door import received_at
from bot.mail.parse import InboundMail, parse_mail
from bot.mail.reply import recipient
from bot.mail.triage import Decision, decide
from bot.mailer import BOT_HEADER, describe
from bot.ticket_draft import acknowledgement_for, draft_ticket
from bot.ticket_mail import TicketTexts, load_ticket_texts

MAX_FILE_BYTES: Final = 25 * 1024 * 1024  # a larger .eml is not read (mail servers cap lower)
HEADERS: Final = ("To", "Subject", "In-Reply-To", "References", "Auto-Submitted", BOT_HEADER,
                  "Content-Language")  # fmt: skip


def register(sub: Any) -> None:
    """Add the `triage` command to the `privacybot` sub-parsers."""
    parser = sub.add_parser("triage", help="dry run of the email door on .eml files")
    parser.add_argument("files", nargs="+", metavar="FILE.eml")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.set_defaults(handler=cmd_triage)


def reply_json(message: EmailMessage | None) -> dict[str, Any] | None:
    """{to, subject, body, headers} of a composed reply (the plain-text body)."""
    if message is None:
        return None
    plain = message.get_body(preferencelist=("plain",))
    content = plain.get_content() if isinstance(plain, EmailMessage) else ""
    headers = {name: str(message[name]) for name in HEADERS if message[name] is not None}
    return {"to": str(message["To"]), "subject": str(message["Subject"]), "body": content,
            "headers": headers}  # fmt: skip


def acknowledgement_preview(
    mail: InboundMail, decision: Decision, brain: Brain, texts: TicketTexts
) -> EmailMessage | None:
    """The acknowledgement a formal request's sender would get, drafted as the ticket service
    drafts it, for ticket DRY_RUN_ID (the auto-reply cap, which needs the store, is not read)."""
    to = recipient(mail)
    if decision.action != "ticket" or not decision.request or to is None:
        return None
    now = utcnow()
    draft = draft_ticket(
        brain, texts, kind=decision.request, requester=to, channel="email",
        text=mail.text.strip() or decision.question, received_at=received_at(mail, now),
        source_message_id=f"email:{mail.message_id}", lang=decision.lang,
        requester_name=mail.sender_name or None, subject=mail.subject or None,
    )  # fmt: skip
    in_reply_to = None if mail.message_id.startswith("sha256:") else mail.message_id
    return acknowledgement_for(draft, draft.preview(now), brain, texts, in_reply_to)


def decision_json(name: str, decision: Decision, ack: EmailMessage | None = None) -> dict[str, Any]:
    """The DESIGN.md triage object for one file; `reply` is the acknowledgement for a ticket."""
    return {
        "file": name,
        "action": decision.action,
        "reason": decision.reason,
        "request": decision.request,
        "lang": decision.lang if decision.action != "ignore" else None,
        "sections": list(decision.sections) if decision.action != "ignore" else [],
        "routes": list(decision.routes) if decision.action != "ignore" else [],
        "reply": reply_json(ack if decision.action == "ticket" else decision.reply),
    }


def _ignored(path: str, reason: str) -> dict[str, Any]:
    return {"file": path, "action": "ignore", "reason": reason, "request": None, "lang": None,
            "sections": [], "routes": [], "reply": None}  # fmt: skip


def triage_file(
    path: str, brain: Brain, settings: Settings, texts: TicketTexts | None = None
) -> dict[str, Any]:
    """Read and decide one file; an unreadable file is an `ignore` naming the error."""
    try:
        file = Path(path)
        if file.stat().st_size > MAX_FILE_BYTES:
            raise OSError(f"larger than {MAX_FILE_BYTES} bytes")
        raw = file.read_bytes()
    except OSError as exc:
        return _ignored(path, f"cannot read the file: {exc.strerror or exc}")
    try:
        mail = parse_mail(raw)
        decision = decide(
            mail,
            brain,
            own_addresses=settings.own_addresses,
            own_domains=frozenset({settings.message_id_domain.lower()}),
        )
        if decision.action == "ticket":
            if texts is None:
                texts = load_ticket_texts(settings.knowledge_dir or default_dir())
            ack = acknowledgement_preview(mail, decision, brain, texts)
            return decision_json(path, decision, ack)
    except Exception as exc:  # a bug must not hide the other files' results
        print(f"privacybot triage: {path}: {describe(exc)}", file=sys.stderr)
        return _ignored(path, f"internal error: {describe(exc)}")
    return decision_json(path, decision)


def _settings() -> Settings:
    from bot.config import load_settings

    return load_settings()


def cmd_triage(args: argparse.Namespace) -> int:
    """Print one decision per file, in order; never writes anything anywhere else."""
    settings = _settings()
    folder = Path(args.knowledge) if getattr(args, "knowledge", None) else settings.knowledge_dir
    brain = Brain.from_folder(folder)
    texts = load_ticket_texts(folder or default_dir())
    for path in args.files:
        result = triage_file(path, brain, settings, texts)
        if args.json:
            sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(_human(result))
    sys.stdout.flush()
    return 0


def _human(result: dict[str, Any]) -> str:
    lines = [f"{result['file']}: {result['action'].upper()} - {result['reason']}"]
    if result["request"]:
        lines.append(f"  request: {result['request']}")
    if result["sections"]:
        lines.append(f"  lang: {result['lang']}  sections: {', '.join(result['sections'])}")
    reply = result["reply"]
    if reply:
        lines += [f"  To: {reply['to']}", f"  Subject: {reply['subject']}", ""]
        lines += [f"    {line}" for line in reply["body"].splitlines()]
    return "\n".join(lines) + "\n\n"
