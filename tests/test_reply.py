"""compose_reply: recipient, subject, threading, RFC 3834 headers, language, plain and HTML body."""

from __future__ import annotations

import re
import shutil
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.cli import main
from bot.knowledge import default_dir, load_knowledge
from bot.mail.parse import parse_mail
from bot.mail.reply import ReplyPart, compose_reply, greeting, reply_subject, thread_ids
from tests.mailfactory import raw_mail

ANSWER = ReplyPart(None, "We keep it for as long as needed.\n\n> Verbatim clause.")
WORDING = load_knowledge().email


def reply(raw: bytes, parts: list[ReplyPart] | None = None, lang: str = "en") -> EmailMessage:
    return compose_reply(parse_mail(raw), [ANSWER] if parts is None else parts, lang, WORDING)


def plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_goes_to_from_without_reply_to() -> None:
    assert str(reply(raw_mail())["To"]) == "alice@example.com"


def test_goes_to_reply_to_when_present() -> None:
    raw = raw_mail(headers={"Reply-To": "Desk <desk@example.org>"})
    assert str(reply(raw)["To"]) == "desk@example.org"


def test_unusable_reply_to_falls_back_to_from() -> None:
    raw = raw_mail(headers={"Reply-To": "not an address"})
    assert str(reply(raw)["To"]) == "alice@example.com"


def test_only_addresses_plain_smtp_can_carry() -> None:
    assert (
        str(reply(raw_mail(headers={"From": "a@bücher.example"}))["To"])
        == "a@xn--bcher-kva.example"
    )
    with pytest.raises(ValueError, match="no usable"):
        reply(raw_mail(headers={"From": "ˆhenrik@example.dk"}))


def test_no_address_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="no usable"):
        reply(raw_mail(headers={"From": "nobody", "Reply-To": None}))


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("A question", "Re: A question"),
        ("Re: A question", "Re: A question"),
        ("RE: Re: re:A question", "Re: A question"),
        ("SV: Spørgsmål", "Re: Spørgsmål"),
        ("Fwd: October news", "Re: October news"),  # one prefix rule for every subject
        ("", "Re: Your message to CiemTech"),
        ("   ", "Re: Your message to CiemTech"),
    ],
)
def test_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject, "Your message to CiemTech") == expected


def test_subject_in_danish_when_empty() -> None:
    assert str(reply(raw_mail(headers={"Subject": ""}), lang="da")["Subject"]) == (
        "Re: Din henvendelse til CiemTech"
    )


def test_subject_header_injection_is_flattened() -> None:
    raw = raw_mail(headers={"Subject": "=?utf-8?Q?hi=0D=0ABcc:_victim@example.com?="})
    message = reply(raw)
    assert "\r" not in str(message["Subject"]) and "\n" not in str(message["Subject"])
    wire = message.as_bytes(policy=policy.SMTP)
    parsed = message_from_bytes(wire, policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Re: hi Bcc: victim@example.com"


def test_long_subject_is_cut() -> None:
    message = reply(raw_mail(headers={"Subject": "word " * 200}))
    assert len(str(message["Subject"])) <= 190


def test_threading_headers() -> None:
    raw = raw_mail(headers={"References": "<a@x.example> <b@x.example>"})
    message = reply(raw)
    assert message["In-Reply-To"] == "<m1@example.com>"
    assert message["References"] == "<a@x.example> <b@x.example> <m1@example.com>"


def test_no_in_reply_to_without_a_message_id() -> None:
    message = reply(raw_mail(headers={"Message-ID": None}))
    assert message["In-Reply-To"] is None
    assert message["References"] is None


def test_references_are_capped() -> None:
    refs = " ".join(f"<r{i}@x.example>" for i in range(40))
    in_reply_to, references = thread_ids(parse_mail(raw_mail(headers={"References": refs})))
    assert in_reply_to == "<m1@example.com>"
    assert references is not None
    ids = references.split()
    assert len(ids) == 10 and ids[0] == "<r0@x.example>" and ids[-1] == "<m1@example.com>"


def test_rfc3834_headers() -> None:
    message = reply(raw_mail())
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Privacy-Bot"] == "reply"
    assert message["Content-Language"] == "en"


def test_english_body_has_greeting_answer_and_footer() -> None:
    text = plain(reply(raw_mail()))
    assert text.startswith("Hello Alice Example,\n\n")
    assert "We keep it for as long as needed." in text
    assert "> Verbatim clause." in text
    assert "automatic answer" in text and "\n-- \n" in text


def test_danish_body() -> None:
    text = plain(reply(raw_mail(headers={"From": "Søren <s@example.dk>"}), lang="da"))
    assert text.startswith("Hej Søren\n\n")
    assert "Tak for din henvendelse" in text and "automatisk svar" in text


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ('"Bennett, Oliver" <o@example.com>', "Hello Oliver,"),
        ('"O\'Neil, Siobhan \\"Shiv\\" (Legal, EMEA)" <s@example.com>', "Hello Siobhan,"),
        ("alice@example.com", "Hello,"),
        ("=?utf-8?q?R=C3=B8d?= <r@example.com>", "Hello Rød,"),
        ("12345 <n@example.com>", "Hello,"),
        ('"<script>" <x@example.com>', "Hello,"),
    ],
)
def test_greeting_uses_a_sane_name_only(sender: str, expected: str) -> None:
    assert greeting(parse_mail(raw_mail(headers={"From": sender})), "en", WORDING) == expected


def test_several_answers_are_numbered_with_their_questions() -> None:
    parts = [ReplyPart("Where?", "In Denmark."), ReplyPart("How long?", "Six months.")]
    text = plain(reply(raw_mail(), parts))
    assert "1. You asked: “Where?”\n\nIn Denmark." in text
    assert "2. You asked: “How long?”\n\nSix months." in text


def test_not_covered_says_a_person_will_answer() -> None:
    text = plain(reply(raw_mail(), []))
    assert "a person from the privacy team will read your message" in text
    assert "da" not in str(reply(raw_mail(), [])["Content-Language"])


def test_html_alternative_escapes_text() -> None:
    message = reply(raw_mail(), [ReplyPart(None, "<script>alert(1)</script>\n\n> quoted")])
    html = message.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    content = str(html.get_content())
    assert "<script>" not in content and "&lt;script&gt;" in content
    assert "<blockquote>quoted</blockquote>" in content


def test_plain_only_when_asked() -> None:
    message = compose_reply(parse_mail(raw_mail()), [ANSWER], "en", WORDING, html_alternative=False)
    assert message.get_content_type() == "text/plain"


def test_the_wording_comes_from_the_knowledge() -> None:
    wording = {**WORDING, "en": {**WORDING["en"], "footer": "Custom footer."}}
    message = compose_reply(parse_mail(raw_mail()), [ANSWER], "en", wording)
    assert "Custom footer." in plain(message)


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('footer = "Dette', 'foot = "Dette', r"\[email\.da\] lacks footer$"),
        ("[email.en]", "[mail.en]", r"the \[email\.en\] table is missing$"),
        ("You asked: “{question}”", "You asked: “{name}”",
         r"email\.en\.asked uses unknown placeholder\(s\) \{name\}; it may use \{question\}$"),
    ],
)  # fmt: skip
def test_check_knowledge_names_a_missing_or_wrong_email_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, error: str
) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(default_dir(), folder)
    path = folder / "messages.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert main(["--knowledge", str(folder), "check-knowledge"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"privacybot: {path}: "), err
    assert re.search(error, err.strip()), err
