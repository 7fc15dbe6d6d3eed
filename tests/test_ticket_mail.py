"""The ticket mails as pure functions: subjects, bodies, headers, languages, tickets.toml."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.errors import KnowledgeError
from bot.knowledge import TICKET_MAIL_KEYS, Knowledge, default_dir
from bot.store import HistoryEntry, Ticket
from bot.store.base import KINDS
from bot.ticket_mail import (
    SectionQuote,
    TicketTexts,
    acknowledgement,
    acknowledgement_text,
    extension_notice,
    load_ticket_texts,
    notification_subject,
    ticket_notification,
)

T0 = datetime(2026, 11, 25, 8, 15, tzinfo=UTC)
QUOTE = (
    "Ved anmodning derom vil CiemTech give dig oplysninger om, hvorvidt vi er i besiddelse af "
    "personoplysninger om dig."
)
SECTIONS: list[SectionQuote] = [
    ("5.3", "Access, correction and deletion on request", QUOTE),
    ("11", "Your choices", "Du kan til enhver tid ændre dine oplysninger."),
]


@pytest.fixture(scope="module")
def texts() -> TicketTexts:
    return load_ticket_texts()


def ticket(**changes: object) -> Ticket:
    base = Ticket(
        id="PRIV-2026-000123",
        kind="erasure",
        requester="kunde@example.dk",
        requester_name="Kunde Æbleø",
        channel="email",
        lang="en",
        received_at=T0,
        due_date=date(2026, 12, 25),
        sections=("5.3", "11"),
        routes=("privacy@ciemtech.com", "account-settings"),
        route_note=None,
        original_text="Please delete all my data.\nThanks, Kunde",
        subject="Delete my data",
        source_message_id="<abc@mail.example.dk>",
        policy_hash="0123abcd" * 8,
        identity_verified=False,
        on_behalf_of_other=False,
        status="awaiting_identity",
        created_at=T0,
        extended_due_date=None,
        closed_at=None,
        history=(HistoryEntry(T0, "privacybot", "created", None, "open", "received via email"),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def field_values(body: str) -> dict[str, str]:
    """The `Name:   value` lines of the team's mail."""
    return {m[1]: m[2] for m in re.finditer(r"^([A-Z][a-z ]+): +(.+)$", body, re.MULTILINE)}


def test_the_team_subject_names_ticket_kind_and_due_date(texts: TicketTexts) -> None:
    assert (
        notification_subject(ticket(), texts)
        == "[PRIV-2026-000123] Erasure request - due 2026-12-25"
    )
    subject = notification_subject(ticket(kind="withdraw_consent"), texts)
    assert subject == "[PRIV-2026-000123] Consent withdrawal request - due 2026-12-25"
    assert set(texts.kind_titles) == KINDS


def test_the_team_mail_is_structured_and_quotes_clauses_and_original(
    texts: TicketTexts, knowledge: Knowledge
) -> None:
    t = ticket(route_note="Job applicant: section 7 says jobs@ciemtech.com handles this.")
    mail = ticket_notification(
        t, answer_sections=SECTIONS, settings=Settings(), knowledge=knowledge, texts=texts
    )
    assert mail["To"] == "privacy@ciemtech.com"
    assert mail["Reply-To"] == "Kunde Æbleø <kunde@example.dk>"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["X-Privacy-Bot"] == "ticket"
    body = mail.get_content()
    fields = field_values(body)
    assert fields["Ticket"] == "PRIV-2026-000123"
    assert fields["Kind"] == "erasure (Erasure request)"
    assert fields["Requester"] == "Kunde Æbleø <kunde@example.dk>"
    assert (fields["Channel"], fields["Language"]) == ("email", "en")
    assert fields["Received"] == "2026-11-25 08:15 UTC"
    assert fields["Due"].startswith("2026-12-25 (one month from receipt")
    assert fields["Identity"].startswith("NOT verified - confirm that the sender controls kunde@")
    assert fields["On behalf"] == "no"
    for line in (
        "- Job applicant: section 7 says jobs@ciemtech.com handles this.",
        "[5.3] Access, correction and deletion on request",
        f"> {QUOTE}",
        f"Policy: sha256 {'0123abcd' * 8}",
        "> Please delete all my data.\n> Thanks, Kunde",
    ):
        assert line in body, line


def test_a_slack_ticket_has_no_reply_to_and_flags_acting_for_someone(
    texts: TicketTexts, knowledge: Knowledge
) -> None:
    t = ticket(channel="slack", requester="U0123ABC", requester_name=None, on_behalf_of_other=True)
    mail = ticket_notification(
        t, answer_sections=[], settings=Settings(), knowledge=knowledge, texts=texts
    )
    assert "Reply-To" not in mail
    body = mail.get_content()
    assert field_values(body)["On behalf"].startswith("YES") and "none found" in body
    with pytest.raises(ValueError, match="not an email address"):
        acknowledgement(t, answer_sections=[], knowledge=knowledge, texts=texts)


def test_a_long_original_is_cut_with_a_pointer(texts: TicketTexts, knowledge: Knowledge) -> None:
    t = ticket(original_text="word " * 10_000)
    body = ticket_notification(
        t, answer_sections=SECTIONS, settings=Settings(), knowledge=knowledge, texts=texts
    ).get_content()
    assert "[... 30000 more characters: privacybot tickets show PRIV-2026-000123]" in body


def test_the_english_acknowledgement(texts: TicketTexts, knowledge: Knowledge) -> None:
    mail = acknowledgement(
        ticket(), answer_sections=SECTIONS, knowledge=knowledge, texts=texts,
        in_reply_to="<abc@mail.example.dk>",
    )  # fmt: skip
    assert mail["To"] == "Kunde Æbleø <kunde@example.dk>"
    assert mail["Subject"] == "Re: Delete my data [PRIV-2026-000123]"
    assert mail["In-Reply-To"] == mail["References"] == "<abc@mail.example.dk>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Privacy-Bot"] == "ack"
    body = mail.get_content()
    assert body.startswith("Hello Kunde Æbleø,")
    assert "formal request for erasure" in body and "PRIV-2026-000123" in body
    assert "confirm your identity" in body
    assert (
        "within one month" in body and "25 December 2026" in body and "two further months" in body
    )
    assert 'section 5.3 ("Access, correction and deletion on request")' in body
    assert f"> {QUOTE}" in body


def test_the_danish_acknowledgement(texts: TicketTexts, knowledge: Knowledge) -> None:
    t = ticket(lang="da", subject="SV: Re: Sletning", on_behalf_of_other=True)
    mail = acknowledgement(t, answer_sections=SECTIONS, knowledge=knowledge, texts=texts)
    assert mail["Subject"] == "Sv: Sletning [PRIV-2026-000123]"
    assert "In-Reply-To" not in mail
    body = mail.get_content()
    assert body.startswith("Kære Kunde Æbleø")
    assert "anmodning om sletning" in body and "25. december 2026" in body
    assert "fuldmagt" in body and "bekræfte din identitet" in body
    assert f'afsnit 5.3 ("{knowledge.policy.section("5.3").title}")' in body


def test_a_slack_acknowledgement_text_skips_the_email_identity_step(
    texts: TicketTexts, knowledge: Knowledge
) -> None:
    t = ticket(channel="slack", requester="U0123ABC", requester_name=None, identity_verified=True)
    text = acknowledgement_text(t, answer_sections=SECTIONS, knowledge=knowledge, texts=texts)
    assert text.startswith("Hello,") and "confirm your identity" not in text


def test_user_text_in_headers_is_flattened(texts: TicketTexts, knowledge: Knowledge) -> None:
    t = ticket(subject="Hi\r\nBcc: x@y", requester_name="Eve\r\nCc: spy@evil.example")
    mail = acknowledgement(
        t,
        answer_sections=SECTIONS,
        knowledge=knowledge,
        texts=texts,
        in_reply_to="<a@b>\r\nBcc: x@y",
    )
    raw = mail.as_string()
    assert mail["Subject"] == "Re: Hi Bcc: x@y [PRIV-2026-000123]"
    assert "\nBcc:" not in raw and "\nCc:" not in raw
    assert "In-Reply-To" not in mail  # not a message id any more


def test_the_extension_notice(texts: TicketTexts) -> None:
    t = ticket(status="extended", extended_due_date=date(2027, 2, 25))
    mail = extension_notice(t, reason="We must collect data from three systems.", texts=texts)
    assert mail["Subject"] == "Your request PRIV-2026-000123: we need more time"
    assert mail["To"] == "Kunde Æbleø <kunde@example.dk>"
    assert mail["X-Privacy-Bot"] == "extension"
    body = mail.get_content()
    assert "25 November 2026" in body and "25 February 2027" in body
    assert "The reason: We must collect data from three systems." in body
    danish = extension_notice(t, reason="Mange systemer.", texts=texts, lang="da").get_content()
    assert "25. februar 2027" in danish and "Begrundelsen er: Mange systemer." in danish


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am writing on behalf of my mother, please delete her data.", True),
        ("Please send me my data, I ask for my father who is 90.", True),
        ("As her legal guardian I request access.", True),
        ("Jeg skriver på vegne af min far og har fuldmagt.", True),
        ("Min klient ønsker sine oplysninger slettet.", True),
        ("Please delete all my data.", False),
        ("Slet venligst alle mine oplysninger.", False),
        ("I write on my own behalf: delete my account.", False),
        ("Jeg skriver på egne vegne.", False),
        ("My clientele is small, delete my shop data.", False),
    ],
)
def test_acting_for_someone_else_is_recognised(
    texts: TicketTexts, text: str, expected: bool
) -> None:
    assert texts.acts_for_other(text) is expected


def test_a_broken_tickets_toml_is_named(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"tickets\.toml is missing"):
        load_ticket_texts(tmp_path)
    (tmp_path / "tickets.toml").write_text('[mail.en]\nack_subject = "x"\n', encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"\[mail\.en\] lacks ack_subject_reply"):
        load_ticket_texts(tmp_path)
    (tmp_path / "tickets.toml").write_text("[kind_titles\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"tickets\.toml"):
        load_ticket_texts(tmp_path)


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped knowledge/ whose tickets.toml has `old` replaced by `new`."""
    folder = tmp_path / "knowledge"
    shutil.copytree(default_dir(), folder)
    path = folder / "tickets.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("{ticket}]", "{tiket}]", r"mail\.en\.ack_subject uses unknown placeholder\(s\) \{tiket\}"),
        ("hilsen\\n", "hilsen {name\\n", r"mail\.da\.signature: .*brace"),
        ("erasure = ", "erase = ", r"kind_titles\.erase: unknown kind 'erase'"),
        ('"site-owner" =', '"site_owner" =', r"route_notes\.site_owner: unknown route"),
        ("except = [", 'except = "x"\nold = [', r"on_behalf\.except must be a list of strings"),
        ("[on_behalf]\n", "on_behalf = 3\n[old]\n", r"\[on_behalf\] must be a table"),
    ],
)
def test_check_knowledge_names_the_file_and_key_of_a_bad_tickets_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, error: str
) -> None:
    folder = broken_copy(tmp_path, old, new)
    assert main(["--knowledge", str(folder), "check-knowledge"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"privacybot: {folder / 'tickets.toml'}: ")
    assert re.search(error, err), err


def test_check_knowledge_reports_tickets_toml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-knowledge"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^tickets\.toml: \d+ on-behalf phrases, 3 route notes", out, re.MULTILINE)


def test_every_mail_text_fills_in_with_the_values_the_bot_gives(texts: TicketTexts) -> None:
    values = {name: "x" for names in TICKET_MAIL_KEYS.values() for name in names}
    for lang in ("en", "da"):
        for key in TICKET_MAIL_KEYS:
            assert texts.text(lang, key, **values)
