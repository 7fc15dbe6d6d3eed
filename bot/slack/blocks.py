"""Block Kit for an Answer: direct answer, route, quoted clause, context line and buttons."""

from __future__ import annotations

import json
from typing import Any

from bot.answer import Answer, format_date
from bot.knowledge import Knowledge
from bot.policy import Section
from bot.slack.mrkdwn import ELLIPSIS, clip, escape, find_loose, plain, quoted, render, spans

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION = 3000  # characters of a section block's text
MAX_CONTEXT = 2000
MAX_VALUE = 2000  # characters of a button's value
MAX_FALLBACK = 3000  # the notification text beside the blocks
FULL_CLAUSE = "full_clause"
ESCALATE = "escalate"
SHARE = "share_in_channel"
_LABELS = {
    "en": {
        "full": "Full clause", "escalate": "Escalate to privacy team", "share": "Share in channel",
        "section": "Section", "offer": "The privacy team can answer it: escalate it to them.",
        "shared": "Shared by <@{user}>", "ticket_new": "Escalated as *{id}* ({kind}). Due {due}.",
        "ticket_old": "Already escalated as *{id}* ({kind}). Due {due}.",
        "announce": "New ticket *{id}* ({kind}) from Slack, escalated by <@{user}>. Due {due}.",
        "failed": "Sorry, no ticket could be created. Please email privacy@ciemtech.com.",
        "usage": "*/privacy* _question_: an answer from the privacy policy, shown only to you.\n"
                 "*/privacy escalate* _text_: a ticket for the privacy team (kind, requester, notes).",
    },
    "da": {
        "full": "Hele afsnittet", "escalate": "Send til privatlivsteamet", "share": "Del i kanalen",
        "section": "Afsnit", "offer": "Privatlivsteamet kan svare: send spørgsmålet videre til dem.",
        "shared": "Delt af <@{user}>", "ticket_new": "Sendt videre som *{id}* ({kind}). Frist {due}.",
        "ticket_old": "Allerede sendt videre som *{id}* ({kind}). Frist {due}.",
        "announce": "Ny sag *{id}* ({kind}) fra Slack, sendt videre af <@{user}>. Frist {due}.",
        "failed": "Beklager, sagen kunne ikke oprettes. Skriv til privacy@ciemtech.com.",
        "usage": "*/privacy* _spørgsmål_: et svar fra privatlivspolitikken, kun synligt for dig.\n"
                 "*/privacy escalate* _tekst_: en sag til privatlivsteamet (type, anmoder, noter).",
    },
}  # fmt: skip


def label(lang: str, key: str, **values: object) -> str:
    """A fixed phrase of the Slack door in English or Danish."""
    return _LABELS["da" if lang == "da" else "en"][key].format(**values)


def action_lang(action: dict[str, Any]) -> str:
    """The answer's language, carried in its actions block's id (`privacy_actions.da`)."""
    return "da" if str(action.get("block_id") or "").endswith(".da") else "en"


def section(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}
    if block_id:
        block["block_id"] = block_id
    return block


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_CONTEXT)}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, 75), "emoji": True},
        "action_id": action_id,
        "value": value[:MAX_VALUE],
    }
    if style:
        element["style"] = style
    return element


def escalation_value(kind: str | None, source: str, text: str) -> str:
    """Compact JSON for the Escalate button: kind, stable source id, the text (cut to fit)."""

    def encode(body: str) -> str:
        data = {"k": kind or "", "s": source, "t": body}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    value = encode(text)
    while len(value) > MAX_VALUE and text:
        text = text[: len(text) - (len(value) - MAX_VALUE) - 1]
        value = encode(text + ELLIPSIS)
    return value


def parse_escalation_value(value: str) -> tuple[str | None, str, str]:
    """(kind, source, text) from an Escalate button's value; raise ValueError if malformed."""
    data = json.loads(value)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "kst"):
        raise ValueError("not an escalation value")
    return data["k"] or None, data["s"], data["t"]


def quote_mrkdwn(answer: Answer, knowledge: Knowledge) -> str:
    """The quoted clause with the policy's own bold and links, found in its paragraph."""
    if not answer.sections or not answer.quote:
        return ""
    leaf = knowledge.policy.section(answer.quote_anchor or answer.sections[0].id)
    core = answer.quote.removeprefix(ELLIPSIS + " ").removesuffix(" " + ELLIPSIS)
    for paragraph in leaf.paragraphs:
        runs = spans(paragraph.text)
        where = find_loose("".join(r.text for r in runs), core)
        if where is not None:
            body = render(runs, *where)
            lead = ELLIPSIS + " " if answer.quote.startswith(ELLIPSIS) else ""
            tail = (
                " " + ELLIPSIS if answer.quote.endswith(ELLIPSIS) and core != answer.quote else ""
            )
            return lead + body + tail
    return plain(answer.quote)


def _title(knowledge: Knowledge, section_id: str, lang: str) -> str:
    info = knowledge.sections.get(section_id.split("/", 1)[0])
    if lang == "en" and info is not None:
        return info.title_en
    return knowledge.policy.section(section_id).title


def _clause_note(knowledge: Knowledge, lang: str) -> str:
    return knowledge.message(
        lang, "clause_note", date=format_date(knowledge.policy.effective_date, lang)
    )


def answer_blocks(
    answer: Answer, knowledge: Knowledge, *, source: str, share: bool = False
) -> list[Block]:
    """The answer as blocks; `source` is the stable id an escalation of it is keyed on."""
    lang = answer.lang
    escalate = button(
        label(lang, "escalate"), ESCALATE,
        escalation_value(answer.request, source, answer.question),
        "danger" if answer.request else None,
    )  # fmt: skip
    blocks: list[Block] = [section("\n\n".join(plain(t) for t in (answer.direct, *answer.notes)))]
    heading = f"*{escape(knowledge.message(lang, 'route_heading'))}*\n"
    routes = heading + "\n".join(f"• {plain(line)}" for line in answer.route_lines)
    if not answer.answered:
        blocks += [section(routes), section(escape(label(lang, "offer")))]
        blocks.append(
            {"type": "actions", "block_id": f"privacy_actions.{lang}", "elements": [escalate]}
        )
        return blocks
    top = answer.sections[0]
    anchor = answer.quote_anchor or top.id
    title = _title(knowledge, top.id, lang)
    if answer.route_lines:
        blocks.append(section(routes))
    heading = escape(knowledge.message(lang, "clause_heading", section=anchor, title=title))
    blocks.append(
        section(clip(f"*{heading}*\n" + quoted(quote_mrkdwn(answer, knowledge)), MAX_SECTION))
    )
    blocks.append(
        context(f"*§ {escape(top.id)}* · {escape(title)} · {escape(_clause_note(knowledge, lang))}")
    )
    elements = [button(label(lang, "full"), FULL_CLAUSE, top.id), escalate]
    if share:
        elements.append(button(label(lang, "share"), SHARE, answer.question[:MAX_VALUE]))
    blocks.append({"type": "actions", "block_id": f"privacy_actions.{lang}", "elements": elements})
    return blocks[:MAX_BLOCKS]


def fallback_text(answer: Answer) -> str:
    """The plain `text` sent beside the blocks (notifications, screen readers)."""
    return clip(escape(answer.text), MAX_FALLBACK)


def _chunks(text: str, limit: int) -> list[str]:
    """Split mrkdwn into pieces of at most `limit` characters at line or word boundaries."""
    out: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        piece = text[:cut]
        if piece.rfind("<") > piece.rfind(">"):  # never split a link
            piece = piece[: piece.rfind("<")] or piece
        out.append(piece.rstrip())
        text = text[len(piece) :].lstrip()
    return [*out, text] if text else out


def clause_blocks(leaf: Section, knowledge: Knowledge, lang: str) -> list[Block]:
    """A whole policy section, paragraph by paragraph, within Slack's block limits."""
    title = _title(knowledge, leaf.id, lang)
    head = f"*{escape(label(lang, 'section'))} {escape(leaf.id)} · {escape(title)}*"
    if lang == "en" and title != leaf.title:
        head += f"\n_{escape(leaf.title)}_"
    blocks = [section(head)]
    for paragraph in leaf.paragraphs:
        for piece in _chunks(render(spans(paragraph.text)), MAX_SECTION * 9 // 10):
            blocks.append(section(quoted(piece)))
    foot = context(escape(_clause_note(knowledge, lang)))
    if len(blocks) >= MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 2], section(ELLIPSIS)]
    return [*blocks, foot]


def clause_text(leaf: Section, knowledge: Knowledge, lang: str) -> str:
    title = _title(knowledge, leaf.id, lang)
    return clip(f"{label(lang, 'section')} {leaf.id} · {escape(title)}", MAX_FALLBACK)
