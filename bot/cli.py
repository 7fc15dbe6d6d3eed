"""The `privacybot` command line: ask, batch and the operators' commands."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.errors import PrivacyBotError

Handler = Callable[[argparse.Namespace], int]
CORE_COMMANDS = frozenset({"ask", "batch", "check-knowledge"})
# Modules with a `register(subparsers)` for the other commands; imported only when needed, so
# that `privacybot ask` does not pay for aiohttp, the store or Slack at start-up.
REGISTRARS = ("bot.cli_tickets", "bot.mail.cli", "bot.service")


def _brain(args: argparse.Namespace) -> Any:
    from bot.brain import Brain

    folder = Path(args.knowledge) if getattr(args, "knowledge", None) else None
    return Brain.from_folder(folder)


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.brain import Message

    question = " ".join(args.question).strip()
    if not question:
        raise PrivacyBotError(
            'ask needs a question, e.g. privacybot ask "How do I delete my data?"'
        )
    answer = _brain(args).answer(Message(question, lang=args.lang))
    if args.json:
        _print_json(answer.to_json())
    else:
        print(answer.text)
        if answer.sections:
            cited = ", ".join(f"{s.id} ({s.score:.2f})" for s in answer.sections[:3])
            print(f"\n[sections: {cited}]")
    return 0


def _jsonl(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"line {number} is not JSON: {exc.msg}"
            continue
        if not isinstance(item, dict):
            yield number, None, f"line {number} is not a JSON object"
            continue
        yield number, item, None


def cmd_batch(args: argparse.Namespace) -> int:
    brain = _brain(args)
    try:
        handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise PrivacyBotError(f"cannot read {args.file}: {exc.strerror}") from None
    with handle:
        try:
            failures = _batch(brain, handle)
        except UnicodeDecodeError as exc:
            raise PrivacyBotError(
                f"{args.file} is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
    return 1 if failures else 0


def _batch(brain: Any, handle: TextIO) -> int:
    """One answer object per line of `handle`, in order; returns how many lines failed."""
    from bot.brain import Message

    failures = 0
    for number, item, error in _jsonl(handle):
        if item is None:
            failures += 1
            _print_json({"id": None, "line": number, "error": error})
            continue
        text = item.get("q", item.get("text"))
        if not isinstance(text, str) or not text.strip():
            failures += 1
            _print_json({"id": item.get("id"), "error": "no question: give `q` or `text`"})
            continue
        _print_json({"id": item.get("id"), **brain.answer(Message(text)).to_json()})
    return failures


def cmd_check_knowledge(args: argparse.Namespace) -> int:
    brain = _brain(args)
    kn = brain.knowledge
    print(f"policy: {len(kn.policy.sections)} leaf sections, effective {kn.policy.effective_date}, "
          f"sha256 {kn.policy.sha256[:16]}")  # fmt: skip
    print(f"sections.toml: {len(kn.sections)} sections, "
          f"{sum(len(s.questions_en) + len(s.questions_da) for s in kn.sections.values())} sample questions")  # fmt: skip
    print(f"lexicon.toml: {len(kn.concepts)} concepts; routes.toml: {len(kn.routes)} routes")
    from bot.knowledge import load_tickets_toml
    from bot.requests import KINDS

    folder = Path(args.knowledge) if getattr(args, "knowledge", None) else None
    tickets = load_tickets_toml(folder, kinds=KINDS, routes=kn.routes)
    phrases = sum(len(v) for k, v in tickets.get("on_behalf", {}).items() if k != "except")
    print(f"tickets.toml: {phrases} on-behalf phrases, "
          f"{len(tickets.get('route_notes', {}))} route notes, mail in en and da")  # fmt: skip
    return 0


def _print_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def build_parser(extra: Sequence[Callable[[Any], None]] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="privacybot",
        description="Answers privacy questions from CiemTech's Danish privacy policy.",
    )
    parser.add_argument("--knowledge", help="knowledge folder (default: the one shipped)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question", nargs="+")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    ask.add_argument("--lang", choices=["en", "da"], help="answer in this language")
    ask.set_defaults(handler=cmd_ask)
    batch = sub.add_parser("batch", help="answer every {id, q} object of a JSONL file")
    batch.add_argument("file", help="JSONL file, or - for standard input")
    batch.set_defaults(handler=cmd_batch)
    check = sub.add_parser("check-knowledge", help="validate knowledge/ and print what it holds")
    check.set_defaults(handler=cmd_check_knowledge)
    for add in extra:
        add(sub)
    return parser


def _registrars(argv: Sequence[str]) -> list[Callable[[Any], None]]:
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in CORE_COMMANDS:
        return []
    found = []
    for name in REGISTRARS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(module.register)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_registrars(argv))
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except PrivacyBotError as exc:
        print(f"privacybot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
