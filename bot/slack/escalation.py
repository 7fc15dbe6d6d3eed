"""The escalation modal: stable source ids, the pre-filled view, and reading a submission."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.requests import KINDS
from bot.slack.mrkdwn import clip

CALLBACK_ID = "privacy_escalate"
MAX_TEXT = 3000  # a plain_text_input's max_length
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_VALID = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_TEXT = ":text:"  # marks a text source (a message source is team:channel:ts)


def message_source(team: str, channel: str, ts: str) -> str:
    """The stable id of an escalation from one Slack message: the same for every click."""
    return f"slack:{team}:{channel}:{ts}"


def text_source(team: str, user: str, text: str) -> str:
    """The id of an escalation with no message behind it (slash command): user + text."""
    digest = hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()
    return f"slack:{team}:{user}{_TEXT}{digest[:32]}"


def ticket_source(source: str, email: str | None) -> str:
    """The ticket's idempotency key: one per message, or per text and requester's email."""
    if _TEXT not in source:
        return source  # a Slack message is one request, however often it is escalated
    # one agent escalating two customers' identical words makes two tickets; a double
    # submission of one modal (same text, same email) still makes one
    who = hashlib.sha256((email or "").strip().lower().encode("utf-8")).hexdigest()
    return f"{source}:{who[:16]}"


@dataclass(frozen=True)
class Origin:
    """Where an escalation came from and where its outcome is posted."""

    source: str
    user: str
    lang: str = "en"
    channel: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None

    def dump(self) -> str:
        data = {"s": self.source, "u": self.user, "l": self.lang, "c": self.channel,
                "t": self.thread_ts, "r": self.response_url}  # fmt: skip
        return json.dumps({k: v for k, v in data.items() if v}, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> Origin:
        data = json.loads(raw)
        return cls(data["s"], data["u"], data.get("l", "en"), data.get("c"), data.get("t"),
                   data.get("r"))  # fmt: skip


@dataclass(frozen=True)
class Submission:
    """What the person filled in, with the origin carried in the view's private_metadata."""

    kind: str
    text: str
    email: str | None
    notes: str | None
    origin: Origin

    @property
    def source(self) -> str:
        return ticket_source(self.origin.source, self.email)

    @property
    def ticket_text(self) -> str:
        if not self.notes:
            return self.text
        return f"{self.text}\n\n---\nNotes from <@{self.origin.user}> (Slack): {self.notes}"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:  # fmt: skip
    block = {"type": "input", "block_id": block_id, "label": _plain(label), "element": element,
             "optional": optional}  # fmt: skip
    if hint:
        block["hint"] = _plain(hint)
    return block


def modal(kind: str | None, text: str, origin: Origin, kinds: Mapping[str, str]) -> dict[str, Any]:
    """The pre-filled modal: request kind, the text, requester's email and notes."""
    options = [{"text": _plain(clip(kinds.get(k, k), 75)), "value": k} for k in KINDS]
    select: dict[str, Any] = {"type": "static_select", "action_id": "kind", "options": options,
                              "placeholder": _plain("Choose the kind of request")}  # fmt: skip
    if kind in KINDS:
        select["initial_option"] = options[KINDS.index(kind)]
    body: dict[str, Any] = {"type": "plain_text_input", "action_id": "text", "multiline": True,
                            "max_length": MAX_TEXT}  # fmt: skip
    if text.strip():
        body["initial_value"] = clip(text.strip(), MAX_TEXT)
    email: dict[str, Any] = {"type": "email_text_input", "action_id": "email"}
    found = _ADDRESS.search(text)
    if found:
        email["initial_value"] = found.group(0).rstrip(".")
    notes = {
        "type": "plain_text_input",
        "action_id": "notes",
        "multiline": True,
        "max_length": 2000,
    }
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": origin.dump(),
        "title": _plain("Escalate to privacy"),
        "submit": _plain("Create ticket"),
        "close": _plain("Cancel"),
        "blocks": [
            _input("kind", "Kind of request", select),
            _input("text", "The request, as the customer wrote it", body),
            _input("email", "Requester's email", email, optional=True,
                   hint="Leave empty when the request is your own: your Slack profile is used."),
            _input("notes", "Notes for the privacy team", notes, optional=True),
        ],
    }  # fmt: skip


def _value(values: Mapping[str, Any], block: str, action: str) -> str | None:
    state = (values.get(block) or {}).get(action) or {}
    if not isinstance(state, dict):
        return None
    chosen = state.get("selected_option")
    raw = chosen.get("value") if isinstance(chosen, dict) else state.get("value")
    return (raw.strip() or None) if isinstance(raw, str) else None


def read_submission(view: Mapping[str, Any]) -> Submission | dict[str, str]:
    """The submission, or the per-block errors Slack shows in the modal."""
    values = view.get("state", {}).get("values", {})
    kind = _value(values, "kind", "kind")
    text = _value(values, "text", "text")
    email = _value(values, "email", "email")
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = "Choose one of the listed kinds."
    if not text:
        errors["text"] = "The request text is needed."
    if email and not _VALID.match(email):
        errors["email"] = "This does not look like an email address."
    try:
        origin = Origin.load(view.get("private_metadata") or "")
    except (ValueError, KeyError, TypeError):
        errors["text"] = "This form has expired; start the escalation again."
    if errors or kind is None or text is None:
        return errors
    return Submission(kind, text, email, _value(values, "notes", "notes"), origin)
