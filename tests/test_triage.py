"""decide(): the shared email corpus against expected.jsonl, and synthetic cases of every branch."""

from __future__ import annotations

import json
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.brain import Brain
from bot.mail.parse import parse_mail
from bot.mail.triage import FOR_PEOPLE, Decision, decide, question_text, questions, unwrap
from tests.mailfactory import SAMPLES, raw_mail

OWN = frozenset({"privacy@ciemtech.com"})
DOMAINS = frozenset({"privacybot.ciemtech.com"})
EXPECTED = [
    json.loads(line)
    for line in (SAMPLES / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
] if (SAMPLES / "expected.jsonl").exists() else []  # fmt: skip


def run(brain: Brain, raw: bytes) -> Decision:
    return decide(parse_mail(raw), brain, own_addresses=OWN, own_domains=DOMAINS)


def body(decision: Decision) -> str:
    assert decision.reply is not None
    part = decision.reply.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


@pytest.fixture(scope="module")
def corpus(brain: Brain) -> dict[str, Decision]:
    if not EXPECTED:
        pytest.skip(f"the shared email corpus is not at {SAMPLES}")
    return {e["file"]: run(brain, (SAMPLES / e["file"]).read_bytes()) for e in EXPECTED}


def test_corpus_is_there() -> None:
    if not EXPECTED:
        pytest.skip(f"the shared email corpus is not at {SAMPLES}")
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("expected", EXPECTED, ids=[e["file"] for e in EXPECTED])
def test_corpus_action(corpus: dict[str, Decision], expected: dict[str, Any]) -> None:
    got = corpus[expected["file"]]
    assert got.action in (expected.get("accept") or [expected["action"]]), got.reason
    if got.action == "ticket":
        assert got.request == expected["request"]
    if got.action != "ignore":
        assert got.lang == expected["lang"]


def test_corpus_never_answers_a_machine(corpus: dict[str, Decision]) -> None:
    for expected in EXPECTED:
        if expected["action"] == "ignore":
            assert corpus[expected["file"]].action == "ignore", expected["file"]


def test_corpus_replies_cite_a_gold_section_first(corpus: dict[str, Decision]) -> None:
    for expected in EXPECTED:
        got = corpus[expected["file"]]
        if expected["action"] == "reply" and got.action == "reply":
            assert got.sections[0] in expected["gold"], expected["file"]


def test_corpus_reply_goes_to_reply_to(corpus: dict[str, Decision]) -> None:
    reply = corpus["d06.eml"].reply
    assert reply is not None and str(reply["To"]) == "a.khan@example.org"


def test_corpus_header_injection_stays_out_of_the_reply(corpus: dict[str, Decision]) -> None:
    reply = corpus["d04.eml"].reply
    assert reply is not None
    wire = reply.as_bytes(policy=policy.SMTP)
    assert b"\nBcc:" not in wire and b"Subject: Re: hi Bcc: victim@example.com\r\n" in wire


def test_corpus_script_words_are_not_read(corpus: dict[str, Decision]) -> None:
    assert "delete_account" not in corpus["d06.eml"].question


def test_two_questions_in_one_sentence_both_answered(brain: Brain) -> None:
    got = run(brain, raw_mail("Hi,\n\nwhere do you store my data and for how long?\n\nAlice\n"))
    assert got.action == "reply" and got.covered
    assert {"12", "5.1"} <= set(got.sections[:2])
    text = body(got)
    assert "You asked: “where do you store my data?”" in text
    assert "You asked: “for how long?”" in text


def test_two_danish_questions_both_answered(brain: Brain) -> None:
    got = run(brain, raw_mail("Hej\n\nHvor gemmer I mine data, og hvor længe gemmer I dem?\n"))
    assert got.lang == "da" and {"12", "5.1"} <= set(got.sections[:2])
    assert "Du spurgte" in body(got)


def test_at_most_three_answers(brain: Brain) -> None:
    text = ("Where do you store my data? How long do you keep it? Do you use cookies? "
            "Can I complain to Datatilsynet? Who are your sub-processors?")  # fmt: skip
    got = run(brain, raw_mail(text))
    assert body(got).count("You asked:") <= 3


def test_not_covered_gets_a_person_will_answer_reply(brain: Brain) -> None:
    got = run(brain, raw_mail("What will the weather be like in Vejle tomorrow?"))
    assert got.action == "reply" and not got.covered
    assert got.reason.endswith(FOR_PEOPLE) and got.confidence < 0.5
    assert "a person from the privacy team will read your message" in body(got)


def test_not_covered_in_danish(brain: Brain) -> None:
    got = run(brain, raw_mail("Kan I bestille en pizza til mig i aften?"))
    assert got.action == "reply" and not got.covered and got.lang == "da"
    assert "en person fra privatlivsteamet" in body(got)


@pytest.mark.parametrize(
    "text",
    [
        "Thanks!\n\nOn Mon, 9 Sep 2024 CiemTech <privacy@ciemtech.com> wrote:\n> Hello\n",
        "Tak for svaret!\n\nDen 9. sep. 2024 skrev CiemTech:\n> Hej\n",
        "Great, that answers it. Have a nice day.",
    ],
)
def test_a_thank_you_gets_no_auto_reply(brain: Brain, text: str) -> None:
    got = run(brain, raw_mail(text, headers={"Subject": "Re: A question"}))
    assert got.action == "ignore" and "no question" in got.reason and got.reply is None


@pytest.mark.parametrize(
    ("text", "kind", "lang"),
    [
        ("Please delete my account and all my data.", "erasure", "en"),
        ("Slet venligst alle mine oplysninger.", "erasure", "da"),
        ("Please send me a copy of all the personal data you hold about me.", "access", "en"),
        ("I withdraw my consent to the processing of my data.", "withdraw_consent", "en"),
        ("Unsubscribe me from your newsletter, please.", "marketing_opt_out", "en"),
    ],
)
def test_formal_requests_become_tickets(brain: Brain, text: str, kind: str, lang: str) -> None:
    got = run(brain, raw_mail(f"Hello,\n\n{text}\n\nBest regards,\nAlice\n"))
    assert (got.action, got.request, got.lang) == ("ticket", kind, lang)
    assert got.reply is None


def test_a_question_about_a_right_is_answered(brain: Brain) -> None:
    got = run(brain, raw_mail("How do I delete my account?"))
    assert got.action == "reply" and got.request is None


def test_request_in_a_fresh_subject_counts(brain: Brain) -> None:
    raw = raw_mail("My account name is lmeyer.", headers={"Subject": "Please delete my account"})
    assert run(brain, raw).request == "erasure"


def test_request_in_a_reply_subject_does_not(brain: Brain) -> None:
    raw = raw_mail("How long will that take?", headers={"Subject": "Re: Please delete my account"})
    assert run(brain, raw).action == "reply"


def test_site_visitor_erasure_names_the_site_owner_route(brain: Brain) -> None:
    text = ("Hi, I bought something from a web shop that runs on CiemTech. "
            "Please delete my data from your servers.")  # fmt: skip
    got = run(brain, raw_mail(text))
    assert got.action == "ticket" and got.request == "erasure"
    assert "site-owner" in got.routes


def test_language_comes_from_new_text_not_the_quote(brain: Brain) -> None:
    text = ("Do you use cookies on your website?\n\nDen 5. sep. 2024 skrev CiemTech:\n"
            "> Hej, tak for din henvendelse. Vi gemmer dine oplysninger i Danmark.\n")  # fmt: skip
    assert run(brain, raw_mail(text)).lang == "en"


def test_language_falls_back_to_the_subject(brain: Brain) -> None:
    raw = raw_mail(b"", headers={"Subject": "Hvor længe gemmer I mine oplysninger?"})
    got = run(brain, raw)
    assert got.action == "reply" and got.lang == "da" and got.sections[0] == "12"


def test_nothing_to_read_is_ignored(brain: Brain) -> None:
    got = run(brain, raw_mail(b"", headers={"Subject": None}))
    assert got.action == "ignore" and "no text" in got.reason


def test_machines_are_ignored_before_anything_else(brain: Brain) -> None:
    got = run(brain, raw_mail("Please delete my data.", headers={"Auto-Submitted": "auto-replied"}))
    assert got.action == "ignore" and got.request is None and got.reply is None


def test_no_sendable_address_is_ignored(brain: Brain) -> None:
    got = run(brain, raw_mail("Please delete my data.", headers={"From": "jörg@example.de"}))
    assert got.action == "ignore" and "no address" in got.reason


def test_greeting_line_is_not_part_of_the_question() -> None:
    mail = parse_mail(raw_mail("Dear CiemTech,\n\nDo you store my IP address?\n"))
    assert question_text(mail) == "Do you store my IP address?"


def test_unwrap_joins_hard_wrapped_lines_but_keeps_list_items() -> None:
    text = "I need everything I gave\nyou as files.\n\nItems:\n- orders\n- contacts\n"
    assert unwrap(text) == "I need everything I gave you as files.\nItems:\n- orders\n- contacts"


def test_questions_split_joined_questions() -> None:
    assert questions("Where do you store my data and for how long?") == [
        "Where do you store my data?",
        "for how long?",
    ]
    assert questions("I like cats and dogs.") == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300), st.text(max_size=80))
def test_decide_never_raises(brain: Brain, text: str, subject: str) -> None:
    raw = raw_mail(text.encode("utf-8", "surrogatepass"),
                   headers={"Subject": subject.replace("\r", " ").replace("\n", " ")})  # fmt: skip
    got = run(brain, raw)
    assert got.action in ("reply", "ticket", "ignore")
    assert (got.reply is not None) == (got.action == "reply")
