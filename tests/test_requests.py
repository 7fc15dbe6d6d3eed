"""Request detection: formal requests by kind, and questions about the process that are not."""

from __future__ import annotations

import pytest

from bot.brain import Brain

REQUESTS = [
    ("Please wipe every trace of my account from your servers.", "erasure"),
    ("I no longer want you to have my details, get rid of them.", "erasure"),
    ("Slet venligst min profil og alle mine oplysninger.", "erasure"),
    ("Jeg vil have mine data fjernet fra jeres systemer.", "erasure"),
    ("Send me a copy of everything you hold on me.", "access"),
    ("Jeg vil gerne have en kopi af mine oplysninger.", "access"),
    ("My phone number on file is wrong, please correct it to 12345678.", "rectification"),
    ("Ret venligst mit efternavn til Hansen.", "rectification"),
    ("Please restrict the processing of my data until my complaint is resolved.", "restriction"),
    ("I want an export of my data in CSV so I can move to another provider.", "portability"),
    ("I object to you using my data for analytics.", "objection"),
    ("I withdraw my consent to all processing.", "withdraw_consent"),
    ("Stop sending me newsletters, please.", "marketing_opt_out"),
    ("Frameld mig venligst jeres nyhedsbrev.", "marketing_opt_out"),
]
QUESTIONS = [
    "How do I delete my data?",
    "Hvordan sletter jeg mine oplysninger?",
    "if I asked you to delete everything, how long would it take?",
    "customer wants their data gone, what do we tell them?",
    "Can you explain what data portability means?",
    "Hvad betyder det at trække sit samtykke tilbage?",
    "Thanks, that answered my question!",
    "I changed my email address in the settings myself, all good now.",
]


@pytest.mark.parametrize(("text", "kind"), REQUESTS)
def test_requests_are_detected_with_their_kind(brain: Brain, text: str, kind: str) -> None:
    assert brain.requests.detect(text).kind == kind


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_about_requests_are_not_requests(brain: Brain, text: str) -> None:
    detection = brain.requests.detect(text)
    assert detection.kind is None, detection


def test_detection_says_why(brain: Brain) -> None:
    found = brain.requests.detect("Hi. Forget me. Name: Jo.")
    assert found.kind == "erasure" and found.sentence == "Forget me." and found.reason


@pytest.mark.parametrize(
    "text",
    [
        "I don't want you to delete my account, I still use it.",
        "I never asked you to delete my data",
        "Jeg vil ikke have at I sletter mine data",
    ],
)
def test_a_negated_request_is_not_a_request(brain: Brain, text: str) -> None:
    assert brain.requests.detect(text).kind is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I am writing to make a subject access request under Article 15.", "access"),
        ("I hereby submit an erasure request for my account.", "erasure"),
        ("Jeg vil ikke have at I bruger mine data til reklamer.", "objection"),
    ],
)
def test_declarative_requests(brain: Brain, text: str, kind: str) -> None:
    assert brain.requests.detect(text).kind == kind
