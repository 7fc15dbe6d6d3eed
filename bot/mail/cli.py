"""`privacybot triage [--json] FILE.eml ...`: the email door as a dry run (nothing sent or kept)."""

from __future__ import annotations

import argparse
import json
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Final

from bot.brain import Brain
from bot.config import Settings
from bot.mail.parse import parse_mail
from bot.mail.triage import Decision, decide
from bot.mailer import describe

MAX_FILE_BYTES: Final = 25 * 1024 * 1024  # a larger .eml is not read (mail servers cap lower)
HEADERS: Final = ("To", "Subject", "In-Reply-To", "References", "Auto-Submitted", "X-Privacy-Bot",
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


def decision_json(name: str, decision: Decision) -> dict[str, Any]:
    """The DESIGN.md triage object for one file."""
    return {
        "file": name,
        "action": decision.action,
        "reason": decision.reason,
        "request": decision.request,
        "lang": decision.lang if decision.action != "ignore" else None,
        "sections": list(decision.sections) if decision.action != "ignore" else [],
        "routes": list(decision.routes) if decision.action != "ignore" else [],
        "reply": reply_json(decision.reply),
    }


def _ignored(path: str, reason: str) -> dict[str, Any]:
    return {"file": path, "action": "ignore", "reason": reason, "request": None, "lang": None,
            "sections": [], "routes": [], "reply": None}  # fmt: skip


def triage_file(path: str, brain: Brain, settings: Settings) -> dict[str, Any]:
    """Read and decide one file; an unreadable file is an `ignore` naming the error."""
    try:
        file = Path(path)
        if file.stat().st_size > MAX_FILE_BYTES:
            raise OSError(f"larger than {MAX_FILE_BYTES} bytes")
        raw = file.read_bytes()
    except OSError as exc:
        return _ignored(path, f"cannot read the file: {exc.strerror or exc}")
    try:
        decision = decide(
            parse_mail(raw),
            brain,
            own_addresses=settings.own_addresses,
            own_domains=frozenset({settings.message_id_domain.lower()}),
        )
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
    for path in args.files:
        result = triage_file(path, brain, settings)
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
