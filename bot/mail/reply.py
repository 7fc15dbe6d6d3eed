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

BOT_HEADER: Final = "X-Privacy-Bot"
MAX_SUBJECT: Final = 180  # characters of the original subject kept after "Re: "
MAX_REFERENCES: Final = 10  # message ids kept in References (the oldest and the newest)
MAX_QUESTION: Final = 240  # characters of a question echoed above its answer
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|sv|aw|antw|odp|vs|réf|ref)\s*(?:\[\d+\])?\s*:\s*)+", re.I)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_MSG_ID = re.compile(r"^[^<>\s\"\\()\[\],;:@]+@[^<>\s\"\\()\[\],;:@]+$")
_NAME = re.compile(r"^[^\W\d_][\w'’.-]*(?: [^\W\d_][\w'’.-]*){0,3}$")
# Email-only wording; knowledge/messages.toml may override any key with `email_<key>`.
TEXTS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "intro": "Thank you for writing to CiemTech. Here is what our privacy policy says:",
        "intro_many": "Thank you for writing to CiemTech. You asked more than one thing; "
        "here is what our privacy policy says about each:",
        "asked": "You asked: “{question}”",
        "not_covered": "Thank you for writing to CiemTech. Our privacy policy does not answer "
        "this directly, so a person from the privacy team will read your message and reply "
        "to you.",
        "footer": "This is an automatic answer from CiemTech's privacy assistant, quoting the "
        "privacy policy. If it does not answer your question, reply to this email and a person "
        "from the privacy team will help.",
        "signature": "CiemTech Privacy",
        "no_subject": "Your message to CiemTech",
    },
    "da": {
        "greeting": "Hej {name}",
        "greeting_anonymous": "Hej",
        "intro": "Tak for din henvendelse til CiemTech. Her er, hvad vores privatlivspolitik "
        "siger:",
        "intro_many": "Tak for din henvendelse til CiemTech. Du spurgte om flere ting; her er, "
        "hvad vores privatlivspolitik siger om hver af dem:",
        "asked": "Du spurgte: “{question}”",
        "not_covered": "Tak for din henvendelse til CiemTech. Vores privatlivspolitik svarer "
        "ikke direkte på dette, så en person fra privatlivsteamet læser din besked og svarer "
        "dig.",
        "footer": "Dette er et automatisk svar fra CiemTechs privatlivsassistent med citat fra "
        "privatlivspolitikken. Hvis det ikke besvarer dit spørgsmål, så svar på denne mail, "
        "så hjælper en person fra privatlivsteamet dig.",
        "signature": "CiemTech Privatliv",
        "no_subject": "Din henvendelse til CiemTech",
    },
}


@dataclass(frozen=True)
class ReplyPart:
    """One answered question: what was asked (None when the whole mail is one question)."""

    question: str | None
    text: str


def text(
    lang: str, key: str, overrides: Mapping[str, Mapping[str, str]] | None = None, **values: str
) -> str:
    """The wording `key` in `lang` (en/da), from `overrides[lang]['email_'+key]` if given."""
    lang = lang if lang in TEXTS else "en"
    custom = (overrides or {}).get(lang, {}).get(f"email_{key}")
    return (custom if isinstance(custom, str) else TEXTS[lang][key]).format(**values)


def one_line(value: str, limit: int) -> str:
    """`value` on one line: control, bidi and line-break characters removed, cut at `limit`."""
    cleaned = " ".join(_UNSAFE.sub(" ", value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def reply_subject(subject: str, lang: str = "en") -> str:
    """`Re: <original>` without CR/LF, and without piling up `Re: Re:` / `SV:` prefixes."""
    core = _REPLY_PREFIX.sub("", one_line(subject, MAX_SUBJECT * 2)).strip()
    return "Re: " + one_line(core or text(lang, "no_subject"), MAX_SUBJECT)


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


def greeting(
    mail: InboundMail, lang: str, overrides: Mapping[str, Mapping[str, str]] | None = None
) -> str:
    """`Hello Alice,` when the display name looks like a name, else `Hello,`."""
    name = one_line(mail.sender_name, 60).strip(" \"'")
    if "," in name:  # "Bennett, Oliver" or "O'Neil, Siobhan (Legal)": use the given name part
        name = name.split(",", 1)[1].split("(")[0].strip(" \"'")
    name = re.sub(r"\s*[\"“(].*$", "", name).strip()
    if name and _NAME.match(name) and "@" not in name:
        return text(lang, "greeting", overrides, name=name)
    return text(lang, "greeting_anonymous", overrides)


def body(
    mail: InboundMail,
    parts: Sequence[ReplyPart],
    lang: str,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The plain-text reply: greeting, the answer(s) (or "a person will answer"), footer."""
    blocks = [greeting(mail, lang, overrides)]
    if not parts:
        blocks.append(text(lang, "not_covered", overrides))
    elif len(parts) == 1:
        blocks += [text(lang, "intro", overrides), parts[0].text.strip()]
    else:
        blocks.append(text(lang, "intro_many", overrides))
        for number, part in enumerate(parts, 1):
            asked = one_line(part.question or "", MAX_QUESTION)
            head = f"{number}. " + (text(lang, "asked", overrides, question=asked) if asked else "")
            blocks.append(head.rstrip() + "\n\n" + part.text.strip())
    blocks += ["-- ", text(lang, "footer", overrides) + "\n\n" + text(lang, "signature", overrides)]
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
    *,
    html_alternative: bool = True,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> EmailMessage:
    """The reply message: To, Subject, threading, Auto-Submitted and the bot's header set;
    the Mailer adds From, Date and Message-ID. Raises ValueError when there is no recipient."""
    to = recipient(mail)
    if to is None:
        raise ValueError("the mail has no usable From or Reply-To address")
    message = EmailMessage()
    message["To"] = Address(addr_spec=to)
    message["Subject"] = reply_subject(mail.subject, lang)
    in_reply_to, references = thread_ids(mail)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    message["Auto-Submitted"] = "auto-replied"
    message[BOT_HEADER] = "reply"
    plain = body(mail, parts, lang, overrides)
    message.set_content(plain, subtype="plain", charset="utf-8")
    if html_alternative:
        message.add_alternative(to_html(plain), subtype="html", charset="utf-8")
    message["Content-Language"] = lang if lang in TEXTS else "en"  # after set_content clears it
    return message
