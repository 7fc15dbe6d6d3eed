"""Block Kit rendering of answers, policy markdown to Slack mrkdwn, and the escalation modal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.brain import Brain, Message
from bot.knowledge import Knowledge
from bot.slack.blocks import (
    MAX_BLOCKS,
    MAX_SECTION,
    MAX_VALUE,
    answer_blocks,
    clause_blocks,
    escalation_value,
    parse_escalation_value,
    quote_mrkdwn,
)
from bot.slack.escalation import Origin, Submission, modal, read_submission, text_source
from bot.slack.mrkdwn import clip, escape, find_loose, plain, render, spans

MANIFEST = Path(__file__).resolve().parents[1] / "bot" / "slack" / "manifest.yml"


def all_text(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e["text"] if isinstance(e["text"], str) else e["text"]["text"]
                for e in block.get("elements", [])]  # fmt: skip
    return out


def check_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION
        for element in block.get("elements", []):
            if element["type"] == "button":
                assert len(element["value"]) <= MAX_VALUE
                assert len(element["text"]["text"]) <= 75
    ids = [b.get("block_id") for b in blocks if b.get("block_id")]
    assert len(ids) == len(set(ids))


def test_escape_follows_slack_rules() -> None:
    assert escape("A & B <c> d") == "A &amp; B &lt;c&gt; d"
    assert plain("Write to privacy@ciemtech.com.") == (
        "Write to <mailto:privacy@ciemtech.com|privacy@ciemtech.com>."
    )
    assert plain("<@U123> & <!channel>") == "&lt;@U123&gt; &amp; &lt;!channel&gt;"  # no pings


def test_policy_markdown_becomes_mrkdwn() -> None:
    source = ('("**Ansøgere**") se [afsnit 6](#), <https://www.ciemtech.com/jobs> og '
              "[Datatilsynet](https://www.datatilsynet.dk) & jobs@ciemtech.com")  # fmt: skip
    assert render(spans(source)) == (
        '("*Ansøgere*") se afsnit 6, <https://www.ciemtech.com/jobs> og '
        "<https://www.datatilsynet.dk|Datatilsynet> &amp; <mailto:jobs@ciemtech.com|jobs@ciemtech.com>"
    )
    assert render(spans("**Bold lead:** rest")) == "*Bold lead:* rest"


def test_spans_give_back_the_plain_text_of_every_paragraph(knowledge: Knowledge) -> None:
    for section in knowledge.policy.sections:
        for paragraph in section.paragraphs:
            assert "".join(s.text for s in spans(paragraph.text)) == paragraph.plain


def test_a_range_of_the_text_keeps_its_styles() -> None:
    runs = spans("Før **fed tekst** efter")
    assert render(runs, 4, 7) == "*fed*"
    assert render(runs, 0, 3) == "Før"
    assert find_loose("a  b\nc d", "b c") == (3, 6)
    assert find_loose("abc", "x") is None


def test_clip_never_cuts_a_link_or_an_entity() -> None:
    text = "x" * 90 + " <mailto:a@b.dk|a@b.dk> &amp; more"
    for limit in range(1, len(text) + 1):
        out = clip(text, limit)
        assert len(out) <= limit
        if out != text:
            assert out.endswith("…")
            assert out.count("<") == out.count(">")
            assert not out.rstrip("…").rstrip().endswith(("&", "&am", "&amp"))


def test_answer_blocks_carry_answer_route_clause_and_buttons(brain: Brain) -> None:
    answer = brain.answer(Message("Can job applicants get their CV deleted?"))
    blocks = answer_blocks(answer, brain.knowledge, source="slack:T:C:1")
    check_limits(blocks)
    shown = "\n".join(all_text(blocks))
    assert answer.sections[0].id == "7"
    assert "<mailto:jobs@ciemtech.com|jobs@ciemtech.com>" in shown
    assert "§ 7" in shown and "Job applicants" in shown and "23 September 2017" in shown
    assert "\n> " in shown  # the clause is quoted
    actions = blocks[-1]["elements"]
    assert [a["action_id"] for a in actions] == ["full_clause", "escalate"]
    assert actions[0]["value"] == "7"
    assert actions[1]["text"]["text"] == "Escalate to privacy team"


def test_quoted_clause_keeps_the_policy_bold(brain: Brain) -> None:
    answer = brain.answer(Message("section 5.4"))
    assert answer.quote.startswith("Forpligtelser vedrørende datalokalisering:")
    assert quote_mrkdwn(answer, brain.knowledge).startswith(
        "*Forpligtelser vedrørende datalokalisering:* Hvis du"
    )


def test_every_sample_question_renders_within_slack_limits(brain: Brain) -> None:
    questions = [q for info in brain.knowledge.sections.values()
                 for q in (*info.questions_en, *info.questions_da)]  # fmt: skip
    questions.append("Please delete everything about me. " * 400)  # a 14 000 character message
    for question in questions:
        answer = brain.answer(Message(question))
        blocks = answer_blocks(answer, brain.knowledge, source="slack:T:C:1", share=True)
        check_limits(blocks)
        if answer.answered:
            assert f"§ {answer.sections[0].id}" in "".join(all_text(blocks))


def test_not_covered_says_so_and_offers_escalation(brain: Brain) -> None:
    answer = brain.answer(Message("What is the weather in Vejle tomorrow?"))
    assert not answer.answered
    blocks = answer_blocks(answer, brain.knowledge, source="slack:T:C:1", share=True)
    shown = "\n".join(all_text(blocks))
    assert "does not cover" in shown
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["escalate"]


def test_danish_answer_has_danish_buttons(brain: Brain) -> None:
    answer = brain.answer(Message("Hvordan sletter jeg min konto?"))
    blocks = answer_blocks(answer, brain.knowledge, source="s", share=True)
    labels = [e["text"]["text"] for e in blocks[-1]["elements"]]
    assert labels == ["Hele afsnittet", "Send til privatlivsteamet", "Del i kanalen"]
    assert blocks[-1]["block_id"] == "privacy_actions.da"


def test_full_clause_of_every_section_fits(knowledge: Knowledge) -> None:
    for section in knowledge.policy.sections:
        blocks = clause_blocks(section, knowledge, "en")
        check_limits(blocks)
        shown = "\n".join(all_text(blocks))
        assert f"Section {section.id} · {knowledge.sections[section.id].title_en}" in shown
        for paragraph in section.paragraphs:
            first_words = " ".join(paragraph.plain.split()[:3]).replace("**", "")
            assert escape(first_words).split()[0] in shown


def test_escalation_value_round_trips_and_fits() -> None:
    for text in ("Slet mine data", 'æ"ø\n' * 2000):
        value = escalation_value("erasure", "slack:T:C:1.2", text)
        assert len(value) <= MAX_VALUE
        kind, source, back = parse_escalation_value(value)
        assert (kind, source) == ("erasure", "slack:T:C:1.2")
        assert text.startswith(back.rstrip("…"))
    assert parse_escalation_value(escalation_value(None, "s", "q"))[0] is None
    with pytest.raises(ValueError):
        parse_escalation_value('{"k": 1}')


def test_modal_is_prefilled_and_submission_is_read(knowledge: Knowledge) -> None:
    origin = Origin("slack:T:C:1.2", "U1", "en", "C1", "1.2")
    view = modal("portability", "Send me my data as a file, to me@example.org.", origin,
                 knowledge.kinds["en"])  # fmt: skip
    assert len(json.dumps(view)) < 24_000 and len(view["private_metadata"]) <= 3000
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["kind"]["element"]["initial_option"]["value"] == "portability"
    assert blocks["email"]["element"]["initial_value"] == "me@example.org"
    assert blocks["email"]["optional"] and blocks["notes"]["optional"]
    values = {"kind": {"kind": {"selected_option": {"value": "portability"}}},
              "text": {"text": {"value": " Send me my data "}},
              "email": {"email": {"value": None}}, "notes": {"notes": {"value": "urgent"}}}  # fmt: skip
    result = read_submission({**view, "state": {"values": values}})
    assert isinstance(result, Submission)
    assert (result.kind, result.text, result.email, result.origin) == (
        "portability", "Send me my data", None, origin,
    )  # fmt: skip
    assert result.ticket_text.endswith("Notes from <@U1> (Slack): urgent")


def test_bad_submission_names_the_fields() -> None:
    origin = Origin("s", "U1")
    values = {"kind": {"kind": {"selected_option": None}}, "text": {"text": {"value": ""}},
              "email": {"email": {"value": "nope"}}}  # fmt: skip
    errors = read_submission({"private_metadata": origin.dump(), "state": {"values": values}})
    assert isinstance(errors, dict) and set(errors) == {"kind", "text", "email"}
    expired = read_submission({"private_metadata": "", "state": {"values": {}}})
    assert isinstance(expired, dict) and "text" in expired


def test_text_source_ignores_spacing_and_case() -> None:
    assert text_source("T", "U", "Delete  my data") == text_source("T", "U", "delete my data\n")
    assert text_source("T", "U", "delete my data") != text_source("T", "U2", "delete my data")


def test_manifest_lists_what_the_app_uses() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    for needed in ("app_mentions:read", "chat:write", "commands", "im:history", "im:read",
                   "im:write", "users:read.email", "- app_mention", "- message.im",
                   "command: /privacy", "/slack/events", "socket_mode_enabled:",
                   "interactivity:"):  # fmt: skip
        assert needed in text, needed
