"""Compose the RFC 3834-safe auto-reply to one inbound mail (pure: builds, never sends)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Final

from bot.mail.parse import ADDRESS, InboundMail
from bot.mailer import BOT_HEADER
from bot.text import REPLY_PREFIX

MAX_SUBJECT: Final = 180  # characters of the original subject kept after "Re: "
MAX_REFERENCES: Final = 10  # message ids kept in References (the oldest and the newest)
MAX_QUESTION: Final = 240  # characters of a question echoed above its answer
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_MSG_ID = re.compile(r"^[^<>\s\"\\()\[\],;:@]+@[^<>\s\"\\()\[\],;:@]+$")
_NAME = re.compile(r"^[^\W\d_][\w'’.-]*(?: [^\W\d_][\w'’.-]*){0,3}$")
# The wording, by language then key: knowledge/messages.toml [email.en] and [email.da]
# (Knowledge.email; bot.knowledge.EMAIL_KEYS lists the keys, checked when it is loaded).
Wording = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class ReplyPart:
    """One answered question: what was asked (None when the whole mail is one question)."""

    question: str | None
    text: str


def text(wording: Wording, lang: str, key: str, **values: str) -> str:
    """The wording `key` in `lang` (English for a language the wording lacks), filled in."""
    return wording[lang if lang in wording else "en"][key].format(**values)


def one_line(value: str, limit: int) -> str:
    """`value` on one line: control, bidi and line-break characters removed, cut at `limit`."""
    cleaned = " ".join(_UNSAFE.sub(" ", value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def reply_subject(subject: str, no_subject: str) -> str:
    """`Re: <original>` (`Re: <no_subject>` without one) without CR/LF, and without piling
    up `Re: Re:` / `SV:` prefixes."""
    core = REPLY_PREFIX.sub("", one_line(subject, MAX_SUBJECT * 2)).strip()
    return "Re: " + one_line(core or no_subject, MAX_SUBJECT)


def sendable(address: str) -> str | None:
    """`address` as plain SMTP can carry it (ASCII local part, IDNA domain), else None."""
    local, at, domain = address.rpartition("@")
    if not at or not ADDRESS.fullmatch(address) or not local.isascii():
        return None
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"{local}@{ascii_domain}"


def recipient(mail: InboundMail) -> str | None:
    """Where the reply goes: Reply-To when it is a usable address, else From; None if neither."""
    for candidate in (mail.reply_to, mail.sender):
        found = sendable(candidate) if candidate else None
        if found:
            return found
    return None


def thread_ids(mail: InboundMail) -> tuple[str | None, str | None]:
    """(In-Reply-To, References) for a reply to `mail`; None where there is no real id."""
    parent = mail.message_id if _MSG_ID.match(mail.message_id or "") else None
    chain = [i for i in mail.references if _MSG_ID.match(i) and len(i) <= 250]
    if parent:
        chain = [i for i in chain if i != parent] + [parent]
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    refs = " ".join(f"<{i}>" for i in chain) or None
    return (f"<{parent}>" if parent else None), refs


def greeting(mail: InboundMail, lang: str, wording: Wording) -> str:
    """`Hello Alice,` when the display name looks like a name, else `Hello,`."""
    name = one_line(mail.sender_name, 60).strip(" \"'")
    if "," in name:  # "Bennett, Oliver" or "O'Neil, Siobhan (Legal)": use the given name part
        name = name.split(",", 1)[1].split("(")[0].strip(" \"'")
    name = re.sub(r"\s*[\"“(].*$", "", name).strip()
    if name and _NAME.match(name) and "@" not in name:
        return text(wording, lang, "greeting", name=name)
    return text(wording, lang, "greeting_anonymous")


def body(mail: InboundMail, parts: Sequence[ReplyPart], lang: str, wording: Wording) -> str:
    """The plain-text reply: greeting, the answer(s) (or "a person will answer"), footer."""
    blocks = [greeting(mail, lang, wording)]
    if not parts:
        blocks.append(text(wording, lang, "not_covered"))
    elif len(parts) == 1:
        blocks += [text(wording, lang, "intro"), parts[0].text.strip()]
    else:
        blocks.append(text(wording, lang, "intro_many"))
        for number, part in enumerate(parts, 1):
            asked = one_line(part.question or "", MAX_QUESTION)
            head = f"{number}. " + (text(wording, lang, "asked", question=asked) if asked else "")
            blocks.append(head.rstrip() + "\n\n" + part.text.strip())
    ending = text(wording, lang, "footer") + "\n\n" + text(wording, lang, "signature")
    blocks += ["-- ", ending]
    joined = "\n\n".join(blocks).replace("\n\n-- \n\n", "\n\n-- \n")
    return joined + "\n"


def to_html(plain: str) -> str:
    """A small HTML rendering of the plain body: paragraphs, `>` lines as a blockquote."""
    out: list[str] = []
    for block in plain.strip().split("\n\n"):
        lines = block.split("\n")
        if all(line.startswith(">") for line in lines):
            inner = "<br>".join(html.escape(line[1:].strip()) for line in lines)
            out.append(f"<blockquote>{inner}</blockquote>")
        elif all(line.startswith("- ") for line in lines[1:]) and len(lines) > 1:
            items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines[1:])
            out.append(f"<p>{html.escape(lines[0])}</p><ul>{items}</ul>")
        else:
            out.append("<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>")
    return (
        '<!doctype html><html><body style="font-family:sans-serif">'
        + "".join(out)
        + "</body></html>"
    )


def compose_reply(
    mail: InboundMail,
    parts: Sequence[ReplyPart],
    lang: str,
    wording: Wording,
    *,
    html_alternative: bool = True,
) -> EmailMessage:
    """The reply message in `wording` (Knowledge.email): To, Subject, threading,
    Auto-Submitted and the bot's header set; the Mailer adds From, Date and Message-ID.
    Raises ValueError when there is no recipient."""
    to = recipient(mail)
    if to is None:
        raise ValueError("the mail has no usable From or Reply-To address")
    message = EmailMessage()
    message["To"] = Address(addr_spec=to)
    message["Subject"] = reply_subject(mail.subject, text(wording, lang, "no_subject"))
    in_reply_to, references = thread_ids(mail)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    message["Auto-Submitted"] = "auto-replied"
    message[BOT_HEADER] = "reply"
    plain = body(mail, parts, lang, wording)
    message.set_content(plain, subtype="plain", charset="utf-8")
    if html_alternative:
        message.add_alternative(to_html(plain), subtype="html", charset="utf-8")
    message["Content-Language"] = lang if lang in wording else "en"  # after set_content clears it
    return message
