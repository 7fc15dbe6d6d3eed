"""The answer a person reads: language, route by role, verbatim clause, date, length."""

from __future__ import annotations

import re

import pytest

from bot.brain import Brain, Message
from bot.policy import strip_markdown


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[*\"“”„'’]", "", strip_markdown(text)).split()).lower()


def test_the_quote_is_verbatim_policy_text(brain: Brain, policy_source: str) -> None:
    policy = _norm(policy_source)
    for question in (
        "How do I delete my data?",
        "cookies",
        "Bruger I mine data til reklamer?",
        "Do you share data with the police?",
        "Why do you collect my data?",
    ):
        answer = brain.answer(Message(question))
        pieces = [p for p in re.split(r"\s*…\s*", answer.quote) if len(p) > 15]
        assert pieces and all(_norm(p).strip(" .,;:") in policy for p in pieces), answer.quote


def test_a_long_paragraph_is_cut_to_its_best_sentences(brain: Brain) -> None:
    answer = brain.answer(Message("Do you store my IP address and geolocation?"))
    assert len(answer.quote) <= 900
    assert "ip-adresse" in answer.quote


def test_english_question_gets_english_text_and_danish_clause(brain: Brain) -> None:
    answer = brain.answer(Message("How do I delete my data?"))
    assert answer.lang == "en"
    assert "privacy@ciemtech.com" in answer.text
    assert "section 5.3" in answer.text or "section 11" in answer.text
    assert "23 September 2017" in answer.text and "Danish version prevails" in answer.text
    assert (
        answer.quote in answer.text.replace("> ", "").replace("\n", " ")
        or answer.quote[:80] in answer.text
    )


def test_danish_question_gets_danish_text(brain: Brain) -> None:
    answer = brain.answer(Message("Hvordan sletter jeg mine oplysninger?"))
    assert answer.lang == "da"
    assert "afsnit" in answer.text and "23. september 2017" in answer.text


@pytest.mark.parametrize(
    ("question", "route"),
    [
        (
            "I applied for a job last year, please tell me how to get my CV deleted",
            "jobs@ciemtech.com",
        ),
        (
            "I bought shoes from a web shop built on CiemTech, how do I get them to delete my data?",
            "site-owner",
        ),
        ("How do I unsubscribe from your marketing emails?", "unsubscribe"),
        ("What is your postal address for privacy requests?", "postal"),
        ("Can I change my details myself?", "account-settings"),
    ],
)
def test_the_route_depends_on_who_asks(brain: Brain, question: str, route: str) -> None:
    answer = brain.answer(Message(question))
    assert route in answer.contacts, (answer.contacts, [s.id for s in answer.sections])


def test_service_messages_cannot_be_opted_out(brain: Brain) -> None:
    answer = brain.answer(Message("Can I opt out of billing and maintenance emails?"))
    assert answer.sections[0].id == "10.2"


def test_a_formal_request_is_flagged_in_the_answer(brain: Brain) -> None:
    answer = brain.answer(Message("Please delete all my personal data."))
    assert answer.request == "erasure"
    assert "formal" in answer.text


def test_json_contract(brain: Brain) -> None:
    data = brain.answer(Message("How do I delete my data?")).to_json()
    assert {
        "question",
        "lang",
        "answered",
        "sections",
        "quote",
        "contacts",
        "request",
        "text",
    } <= set(data)
    assert data["answered"] is True and data["request"] is None
    assert all(set(s) == {"id", "title", "score"} for s in data["sections"])
    assert data["policy"]["effective_date"] == "2017-09-23"


def test_when_who_asks_is_unknown_the_other_cases_are_named(brain: Brain) -> None:
    general = brain.answer(Message("How do I delete my data?"))
    assert "jobs@ciemtech.com" in general.text and "site's owner" in general.text
    applicant = brain.answer(Message("I applied for a job, how do I get my CV deleted?"))
    assert "Other cases" not in applicant.text and applicant.contacts[0] == "jobs@ciemtech.com"
