"""Decide what the email door does with one mail: reply, open a ticket or ignore (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Final

from bot.answer import Answer
from bot.brain import Brain, Message
from bot.mail.guard import automated_reason
from bot.mail.parse import InboundMail
from bot.mail.reply import ReplyPart, compose_reply, one_line, recipient
from bot.text import REPLY_PREFIX

MAX_ANSWERS: Final = 3  # distinct sections answered in one reply
MAX_SECTIONS: Final = 5  # section ids reported with a decision
MAX_UNITS: Final = 6  # question sentences answered one by one
MAX_NOTE_WORDS: Final = 15  # a short message with no question the policy covers is a note
MAX_QUESTION_CHARS: Final = 4000  # of the new text read as the question (a pasted document follows)
FOR_PEOPLE: Final = "left for the privacy team"  # ends the reason when a person must act
_BULLET = re.compile(r"^(?:[-*•·–]\s|\d{1,2}[.)]\s|[a-z][.)]\s|>)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[^\s])|\n+")
# "... my data and for how long?": a second question joined to the first by and/og/or/eller.
_JOINED = re.compile(
    r"(?:,\s*|\s+)(?:and|og|or|eller|plus|samt)\s+(?=(?:also\s+|også\s+)?(?:for\s+|in\s+|i\s+|til\s+)?"
    r"(?:how|what|where|when|why|which|who|whom|whose|whether|is|are|do|does|did|can|could|will"
    r"|would|should|may|hvordan|hvad|hvor|hvornår|hvorfor|hvilke|hvilken|hvilket|hvem|om|er|kan"
    r"|må|skal|vil|gør|bruger|gemmer|deler)\b)",
    re.I,
)
_SALUTATION = re.compile(
    r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|to whom it may concern"
    r"|hej|kære|goddag|god morgen|til)\b[^.?!]{0,60}$",
    re.I,
)


@dataclass(frozen=True)
class Decision:
    """What to do with one mail, why, and (for a reply) the message that would be sent."""

    action: str  # "reply" | "ticket" | "ignore"
    reason: str
    request: str | None = None
    lang: str | None = None
    sections: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    covered: bool = False  # the policy answers it (False: a person must answer)
    question: str = ""  # the text read as the sender's question or request
    reply: EmailMessage | None = field(default=None, compare=False)
    confidence: float = 0.0  # of the least certain answer in the reply (of the whole text if none)


def unwrap(text: str) -> str:
    """One line per paragraph (mail bodies are hard-wrapped at ~72 columns); list items stay."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines: list[str] = []
        for line in (x.strip() for x in block.split("\n")):
            if not line:
                continue
            if lines and not _BULLET.match(line) and not lines[-1].endswith(":"):
                lines[-1] = f"{lines[-1]} {line}"
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n".join(p for p in paragraphs if p)


def strip_subject(subject: str) -> str:
    """The subject without Re:/Fwd:/SV:/VS: prefixes and ticket-style [tags] at its start."""
    return re.sub(r"^(?:\[[^\]]{0,40}\]\s*)+", "", REPLY_PREFIX.sub("", subject)).strip()


def question_text(mail: InboundMail) -> str:
    """The sender's own words: the new text without a greeting line, else the subject,
    else (nothing new, nothing in the subject) whatever text the body has."""
    lines = unwrap(mail.text).split("\n")
    while (
        len(lines) > 1 and len(lines[0].split()) <= 6 and _SALUTATION.match(lines[0].strip(" ,!"))
    ):
        lines.pop(0)
    new = "\n".join(lines).strip()
    if new:
        return new[:MAX_QUESTION_CHARS]
    return strip_subject(mail.subject) or unwrap(mail.full_text)[:MAX_QUESTION_CHARS]


def language(brain: Brain, mail: InboundMail, text: str) -> str | None:
    """en/da from the sender's new text, falling back to the subject; None if neither tells."""
    for candidate in (text, strip_subject(mail.subject)):
        found = brain.detect_language(candidate, default="") if candidate.strip() else ""
        if found:
            return found
    return None


def questions(text: str) -> list[str]:
    """The question sentences of `text`, two questions joined by "and"/"og" split apart."""
    units: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE.split(text)):
        if not sentence.endswith("?"):
            continue
        pieces = [p.strip(" ,") for p in _JOINED.split(sentence)]
        units += [p if p.endswith("?") else p + "?" for p in pieces if len(p.split()) >= 2]
    return units


def answers(brain: Brain, text: str, lang: str) -> tuple[Answer, list[tuple[str | None, Answer]]]:
    """The answer to the whole text, and up to MAX_ANSWERS answers with distinct top sections:
    with two or more questions ("where ... and for how long?") each is answered on its own,
    besides the whole text (which has the context a short question lacks)."""
    whole = brain.answer(Message(text, lang=lang, channel="email"))
    units = questions(text)
    asked = [(u, brain.answer(Message(u, lang=lang, channel="email"))) for u in units[:MAX_UNITS]]
    chosen: list[tuple[str | None, Answer]] = []
    if whole.answered and whole.sections:
        chosen.append((None, whole))
    if len(asked) < 2:
        return whole, chosen
    for unit, found in asked:
        tops = {a.sections[0].id for _, a in chosen}
        if len(chosen) < MAX_ANSWERS and found.answered and found.sections[0].id not in tops:
            chosen.append((unit, found))
    if len(chosen) > 1 and chosen[0][0] is None:  # say which question the whole-text answer meets
        top, used = chosen[0][1].sections[0].id, {u for u, _ in chosen}
        same = [u for u, a in asked if a.sections and a.sections[0].id == top and u not in used]
        free = same or [u for u, _ in asked if u not in used]
        chosen[0] = (free[0] if free else None, chosen[0][1])
    return whole, chosen


def _sections(first: Answer | None, extra: list[Answer]) -> tuple[str, ...]:
    ids = [a.sections[0].id for a in extra if a.sections]
    ids += [s.id for s in (first.sections if first else ())]
    return tuple(dict.fromkeys(ids))[:MAX_SECTIONS]


def _request(brain: Brain, mail: InboundMail, text: str) -> tuple[str | None, str]:
    """The formal request kind the sender's words make, and the sentence that made it. A
    subject that opens a thread ("Erasure request", "Wrong address on my invoices") counts
    too; a Re:/Fwd: subject belongs to an earlier message and does not."""
    found = brain.requests.detect(text)
    subject = strip_subject(mail.subject)
    fresh = subject == mail.subject.strip()
    if found.kind is None and fresh and subject and subject != text:
        found = brain.requests.detect(subject)
    return found.kind, one_line(found.sentence or "", 160)


def decide(
    mail: InboundMail,
    brain: Brain,
    *,
    own_addresses: frozenset[str],
    own_domains: frozenset[str],
    html_alternative: bool = True,
) -> Decision:
    """The one decision for `mail`; never raises for any parsed mail."""
    why = automated_reason(mail, own_addresses=own_addresses, own_domains=own_domains)
    if why is not None:
        return Decision("ignore", why)
    if recipient(mail) is None:
        return Decision("ignore", "no address an answer could be sent to (Reply-To, From)")
    text = question_text(mail)
    if not text.strip():
        defects = f" (defects: {', '.join(mail.defects[:5])})" if mail.defects else ""
        return Decision("ignore", f"no text could be recovered from the message{defects}")
    lang = language(brain, mail, text)
    use = lang or "en"
    kind, sentence = _request(brain, mail, text)
    if kind is not None:
        found = brain.answer(Message(text, lang=use, channel="email"))
        return Decision(
            "ticket", f"formal {kind} request: “{sentence}”", kind, lang,
            _sections(found, []), found.contacts, found.answered, text,
        )  # fmt: skip
    whole, chosen = answers(brain, text, use)
    wording = brain.knowledge.email
    if not chosen and "?" not in text and len(text.split()) <= MAX_NOTE_WORDS:
        why = f"no question or request to answer (a thank-you or a short note); {FOR_PEOPLE}"
        return Decision("ignore", why, None, lang, (), (), False, text)
    if not chosen:
        reply = compose_reply(mail, [], use, wording, html_alternative=html_alternative)
        return Decision(
            "reply", f"not covered by the policy: told a person will answer; {FOR_PEOPLE}",
            None, lang, _sections(whole, []), whole.contacts, False, text, reply,
            whole.confidence,
        )  # fmt: skip
    parts = [ReplyPart(q, a.text) for q, a in chosen]
    reply = compose_reply(mail, parts, use, wording, html_alternative=html_alternative)
    tops = [a for _, a in chosen]
    routes = tuple(dict.fromkeys(r for a in tops for r in a.contacts))
    many = f"{len(chosen)} questions answered" if len(chosen) > 1 else "question answered"
    cited = ", ".join(a.sections[0].id for a in tops)
    return Decision(
        "reply", f"{many} from the policy (section {cited})", None, lang,
        _sections(chosen[0][1], tops), routes, True, text, reply,
        min(a.confidence for a in tops),
    )  # fmt: skip
