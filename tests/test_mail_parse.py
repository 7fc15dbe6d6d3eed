"""parse_mail: the shipped sample emails, synthetic MIME edge cases, and property tests."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail.parse import InboundMail, parse_mail
from tests.mailfactory import SAMPLES, b64, multipart, part, raw_mail

needs_samples = pytest.mark.skipif(
    not (SAMPLES / "expected.jsonl").is_file(), reason=f"sample emails not found at {SAMPLES}"
)
SAMPLE_FILES = sorted(SAMPLES.glob("d*.eml")) if SAMPLES.is_dir() else []


def sample(name: str) -> InboundMail:
    return parse_mail((SAMPLES / f"{name}.eml").read_bytes())


def assert_well_formed(mail: InboundMail) -> None:
    for f in fields(mail):
        value = getattr(mail, f.name)
        if f.name == "in_reply_to":
            assert value is None or isinstance(value, str)
        elif f.name in ("references", "defects"):
            assert isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        elif f.name == "headers":
            assert all(isinstance(v, tuple) for v in value.values())
        elif f.name in ("is_report", "has_attachments"):
            assert isinstance(value, bool)
        else:
            assert isinstance(value, str), f.name
    assert not any(c in mail.subject for c in "\r\n\t\x00")
    assert mail.subject == mail.subject.strip()
    assert mail.message_id and not any(c.isspace() for c in mail.message_id)
    assert "\x00" not in mail.text + mail.full_text + mail.quoted_text


# --- the shipped samples -------------------------------------------------------------------


@needs_samples
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_parses_cleanly(path: Path) -> None:
    assert_well_formed(parse_mail(path.read_bytes()))


@needs_samples
def test_samples_match_their_labels() -> None:
    rows = [json.loads(line) for line in (SAMPLES / "expected.jsonl").read_text().splitlines()]
    assert len(rows) == len(SAMPLE_FILES) == 25
    for row in rows:
        mail = parse_mail((SAMPLES / row["file"]).read_bytes())
        if row["action"] != "ignore" and row["file"] != "d12.eml":
            assert mail.text, row["file"]
        if "malformed" in row["reason"]:
            assert mail.defects, row["file"]


@needs_samples
def test_sample_charsets_decode() -> None:
    assert "Jeg har været kunde" in sample("d02").text  # windows-1252 8bit
    assert "oversigt over alt det" in sample("d02").text
    assert "profilering og målrettet reklame" in sample("d07").text  # iso-8859-1 base64
    assert sample("d07").sender_name == "Søren Kjær"
    assert "sletter mit CV og min ansøgning" in sample("d14").text  # utf-8 8bit
    assert sample("d14").subject == "Sletning af min ansøgning"
    d21 = sample("d21")  # utf-8 quoted-printable, B-encoded subject
    assert d21.subject == "Spørgsmål om cookies på jeres hjemmeside"
    assert "hvad sker der, hvis jeg sletter dem eller blokerer dem i min browser?" in d21.text


@needs_samples
def test_malformed_samples_keep_their_question() -> None:
    d03 = sample("d03")  # broken base64
    assert "InvalidBase64" in d03.defects
    assert "everything I gave you" in d03.text and "CSV or JSON" in d03.text
    d09 = sample("d09")  # missing closing boundary
    assert "CloseBoundaryNotFound" in d09.defects
    assert "does the developer keep the customer data" in d09.text
    assert "<html" not in d09.full_text
    d22 = sample("d22")  # charset utf8x
    assert "UnknownCharset(utf8x)" in d22.defects
    assert "begrænsning af behandlingen" in d22.text and "undersøgt" in d22.text


@needs_samples
def test_sample_header_injection_subject_is_one_line() -> None:
    assert sample("d04").subject == "hi Bcc: victim@example.com"


@needs_samples
def test_sample_html_only_drops_script_and_keeps_reply_to() -> None:
    d06 = sample("d06")
    assert "How do you store my password & my payment details?" in d06.text
    assert "HTTPS — and are you PCI DSS certified?" in d06.text
    for hidden in ("delete_account", "unsubscribe", "draftState", "font-family", "<"):
        assert hidden not in d06.full_text
    assert d06.reply_to == "a.khan@example.org" and d06.sender == "ahmed.khan@example.com"
    d16 = sample("d16")  # html-only, iso-8859-1 8bit, Q-encoded subject
    assert d16.subject == "Hvor længe gemmer I mine fakturaoplysninger?"
    assert "Hvor længe gemmer I mine\nfakturaoplysninger" not in d16.text
    assert "nu hvor jeg ikke længere er kunde?" in d16.text
    assert "Jørgen Ravn" in d16.full_text and "Jørgen" not in d16.text


@needs_samples
def test_sample_forward_and_quotes_are_cut() -> None:
    d08 = sample("d08")
    assert d08.text.startswith("Please make these stop.")
    assert "templates" not in d08.text and "Unsubscribe" not in d08.text
    assert "Forwarded message" in d08.quoted_text and "Autumn is here" in d08.quoted_text
    d09 = sample("d09")
    assert "App Market partner agreement" not in d09.text
    assert "wrote:" in d09.quoted_text and "partner agreement" in d09.quoted_text
    assert d09.sender_name == 'O\'Neil, Siobhan "Shiv" (Legal, EMEA)'
    assert d09.in_reply_to == "bot-19ac02@ciemtech.com"
    d17 = sample("d17")
    assert d17.text.endswith("kan jeg så klage til Datatilsynet?")
    assert "Ifølge afsnit 5.3" not in d17.text and "Ifølge afsnit 5.3" in d17.quoted_text
    assert d17.references == ("a81c33@example.dk", "bot-7f31c2@ciemtech.com")


@needs_samples
def test_sample_signatures_are_cut() -> None:
    d23 = sample("d23")
    assert d23.text.endswith("what do you actually use it for?")
    assert "Bookkeeping" in d23.quoted_text and "Best regards" in d23.quoted_text
    assert sample("d05").text.endswith("Please confirm once the deletion has been completed.")
    assert sample("d02").text.endswith("I har liggende?")  # "På forhånd tak." + address block
    assert "Hilsen" not in sample("d17").text


@needs_samples
def test_sample_empty_body_and_attachments() -> None:
    d12 = sample("d12")
    assert d12.text == d12.full_text == d12.quoted_text == ""
    assert d12.subject.startswith("Which version of your privacy policy is binding")
    d05, d13 = sample("d05"), sample("d13")
    assert d05.has_attachments and d13.has_attachments
    assert "iVBOR" not in d05.full_text and "JVBER" not in d13.full_text
    assert not sample("d23").has_attachments


@needs_samples
def test_sample_huge_body_is_capped() -> None:
    raw = (SAMPLES / "d19.eml").read_bytes()
    assert len(raw) > 250_000
    started = time.perf_counter()
    d19 = parse_mail(raw)
    assert time.perf_counter() - started < 1.0
    assert len(d19.full_text) <= 100_000 and "BodyTruncated" in d19.defects
    assert "which third-party service providers" in d19.text
    assert "Clause" not in d19.text
    small = parse_mail(raw, max_body_chars=500)
    assert len(small.full_text) <= 500 and len(small.text) <= 500
    assert "which third-party service providers" in small.text


@needs_samples
def test_sample_report_and_own_mail() -> None:
    d25 = sample("d25")
    assert d25.is_report and d25.sender == "mailer-daemon@mx1.example.org"
    assert d25.sender_name == "Mail Delivery System"
    assert "Section 9 of our privacy policy" not in d25.full_text  # enclosed message is context
    d24 = sample("d24")
    assert d24.message_id == "ticket-PRIV-1042@ciemtech.com" and d24.header("x-privacy-bot")
    assert "I request that you erase" not in d24.text


# --- headers, addresses, ids ----------------------------------------------------------------


def test_message_id_falls_back_to_hash_of_raw_bytes() -> None:
    raw = raw_mail(headers={"Message-ID": None})
    mail = parse_mail(raw)
    assert mail.message_id.startswith("sha256:") and len(mail.message_id) == 7 + 64
    assert parse_mail(raw).message_id == mail.message_id
    assert parse_mail(raw + b"x").message_id != mail.message_id
    assert parse_mail(raw_mail(headers={"Message-ID": "  bare-id@host  "})).message_id == (
        "bare-id@host"
    )
    for empty in ("<>", " ", "< >"):
        assert parse_mail(raw_mail(headers={"Message-ID": empty})).message_id.startswith("sha256:")


def test_addresses_are_bare_and_lowercased() -> None:
    mail = parse_mail(raw_mail(headers={"From": '"Doe, Jane" <Jane.DOE@Example.COM>'}))
    assert (mail.sender, mail.sender_name, mail.reply_to) == (
        "jane.doe@example.com",
        "Doe, Jane",
        "jane.doe@example.com",
    )
    mail = parse_mail(raw_mail(headers={"Reply-To": "Other <Other@Example.org>"}))
    assert mail.reply_to == "other@example.org" and mail.sender == "alice@example.com"
    for bad in ("not an address", "<>", "a@", "x@y, <evil\r\n>", "=?utf-8?Q?x?="):
        assert parse_mail(raw_mail(headers={"Reply-To": bad})).reply_to == "alice@example.com"
    assert parse_mail(raw_mail(headers={"From": "jane@example.com"})).sender_name == ""
    nobody = parse_mail(raw_mail(headers={"From": None}))
    assert nobody.sender == "" and nobody.reply_to == ""


def test_encoded_display_names_and_encoded_whole_address() -> None:
    name = "=?utf-8?B?" + base64.b64encode("Åse Ørsted".encode()).decode() + "?="
    mail = parse_mail(raw_mail(headers={"From": f"{name} <aase@example.dk>"}))
    assert (mail.sender_name, mail.sender) == ("Åse Ørsted", "aase@example.dk")
    whole = "=?utf-8?Q?Bo_Ek_<bo@example.se>?="
    assert parse_mail(raw_mail(headers={"From": whole})).sender == "bo@example.se"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?Q?Sp=C3=B8rgsm=C3=A5l?=", "Spørgsmål"),
        ("=?UTF-8?q?a_b?= =?UTF-8?q?_c?=", "a b c"),
        ("=?iso-8859-1?Q?Hvor_l=E6nge=3F?=", "Hvor længe?"),
        ("=?windows-1252?Q?=93quoted=94_=96_dash?=", "“quoted” – dash"),
        ("=?utf-8?B?w6bDuMOl?=", "æøå"),
        ("=?utf-8?B?w6bD?= =?utf-8?B?uMOl?=", "æøå"),  # a character split across two words
        ("=?utf-8?B?w6bDuMO?=", "æø"),  # broken base64 inside the word
        ("=?x-unknown?Q?caf=C3=A9?=", "café"),
        ("=?utf-8*da?Q?hej?=", "hej"),
        ("plain =?utf-8?Q?=C3=A6?= text", "plain æ text"),
        ("=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
        ("two\r\n  folded\tlines", "two folded lines"),
        ("=?utf-8?Q?a=0D=0AB=00c=07?=", "a B c"),
    ],
)
def test_rfc2047_subjects(header: str, expected: str) -> None:
    assert parse_mail(raw_mail(headers={"Subject": header})).subject == expected


def test_raw_8bit_headers_are_decoded() -> None:
    raw = raw_mail(headers={"Subject": "Sp\udcf8rgsm\udce5l"})  # latin-1 bytes, undeclared
    assert parse_mail(raw).subject == "Spørgsmål"
    raw = raw_mail(headers={"Subject": "Spørgsmål".encode().decode("utf-8")})
    assert parse_mail(raw).subject == "Spørgsmål"


def test_headers_mapping_is_read_only_and_complete() -> None:
    raw = raw_mail(headers={"Received": "from a", "X-Tag": "=?utf-8?Q?=C3=A6?="})
    raw = raw.replace(b"Received: from a\r\n", b"Received: from a\r\nReceived: from b\r\n")
    mail = parse_mail(raw)
    assert mail.headers["received"] == ("from a", "from b")
    assert mail.header("X-TAG") == "æ" and mail.header("missing") is None
    with pytest.raises(TypeError):
        mail.headers["x"] = ("y",)  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        mail.text = "changed"  # type: ignore[misc]


def test_threading_headers() -> None:
    mail = parse_mail(
        raw_mail(headers={"In-Reply-To": "<a@x> (comment)", "References": "<r1@x>\r\n <r2@x>"})
    )
    assert mail.in_reply_to == "a@x" and mail.references == ("r1@x", "r2@x")
    assert parse_mail(raw_mail()).in_reply_to is None


# --- charsets and transfer encodings --------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "data", "expected"),
    [
        ("utf-8", "Blåbærgrød – €".encode(), "Blåbærgrød – €"),
        ("iso-8859-1", "Blåbærgrød".encode("latin-1"), "Blåbærgrød"),
        ("windows-1252", "“Blåbær” – 5 €".encode("cp1252"), "“Blåbær” – 5 €"),
        ("iso-8859-1", "“citat” – 5 €".encode("cp1252"), "“citat” – 5 €"),  # Outlook habit
        ("us-ascii", "ærø".encode(), "ærø"),  # mislabelled UTF-8
        ("us-ascii", "ærø".encode("latin-1"), "ærø"),
        ("utf8x", "ærø".encode(), "ærø"),
        ("utf8x", "ærø".encode("cp1252"), "ærø"),
        ("utf-8", "ærø".encode("cp1252"), "ærø"),  # declared UTF-8, really windows-1252
        ("koi8-r", "привет".encode("koi8-r"), "привет"),
        ("base64", b"plain text", "plain text"),  # codec names that are not text encodings
        ("rot13", b"plain text", "plain text"),
        ("punycode", b"plain text", "plain text"),
        ("", "ærø".encode(), "ærø"),
    ],
)
def test_body_charsets(charset: str, data: bytes, expected: str) -> None:
    ctype = f'text/plain; charset="{charset}"' if charset else "text/plain"
    mail = parse_mail(raw_mail(b"Hi\r\n\r\n" + data + b"\r\n", content_type=ctype, cte="8bit"))
    assert mail.full_text == "Hi\n\n" + expected


def test_quoted_printable_body() -> None:
    body = b"Kan jeg f=C3=A5 en kopi af mine data, s=\r\nom jeg kan tage med? =E2=82=AC=ZZ\r\n"
    mail = parse_mail(raw_mail(body, cte="quoted-printable"))
    assert mail.text == "Kan jeg få en kopi af mine data, som jeg kan tage med? €=ZZ"


@pytest.mark.parametrize(
    ("encoded", "expected", "broken"),
    [
        (b64(b"Please delete my account."), "Please delete my account.", False),
        (b"UGxlYXNlIGRl!!bGV0ZSBt\r\neSBhY2NvdW50Lg==\r\n", "Please delete my account.", True),
        (b"UGxlYXNlIGRlbGV0ZSBteSBhY2NvdW50L", "Please delete my account", True),  # truncated
        (b"UGxlYXNl\r\nIGRlbGV0ZSBteSBhY2NvdW50Lg", "Please delete my account.", True),  # no pad
        (b"UGxlYXNlIA==ZGVsZXRlIG1lLg==", "Please delete me.", False),  # two concatenated
        (b"\xff\xfe not base64 at all \x00", "", True),
        (b"", "", False),
    ],
)
def test_base64_bodies_recover_what_decodes(encoded: bytes, expected: str, broken: bool) -> None:
    mail = parse_mail(raw_mail(encoded, cte="base64"))
    assert mail.full_text.replace("\ufffd", "").strip() == expected or expected in mail.full_text
    assert ("InvalidBase64" in mail.defects) is broken


def test_unknown_transfer_encoding_is_read_as_is() -> None:
    mail = parse_mail(raw_mail(b"Is my data safe?\r\n", cte="x-made-up"))
    assert mail.text == "Is my data safe?"


# --- MIME structure -------------------------------------------------------------------------


def test_plain_is_preferred_in_nested_multiparts_and_attachments_are_ignored() -> None:
    alternative = multipart(
        [part("The plain question?"), part("<p>The <b>HTML</b> question?</p>", "text/html")],
        "ALT",
    )
    pdf = part(
        b64(b"%PDF-1.4 secret"),
        "application/pdf",
        cte="base64",
        extra='Content-Disposition: attachment; filename="x.pdf"\r\n',
    )
    text_attachment = part("attached notes", extra="Content-Disposition: attachment\r\n")
    body = multipart(
        [part(alternative, 'multipart/alternative; boundary="ALT"'), pdf, text_attachment], "MIX"
    )
    mail = parse_mail(raw_mail(body, content_type='multipart/mixed; boundary="MIX"'))
    assert mail.text == "The plain question?" and mail.has_attachments
    assert "HTML" not in mail.full_text and "notes" not in mail.full_text


def test_html_is_used_when_the_plain_part_is_empty() -> None:
    body = multipart([part("  \r\n"), part("<div>Only&nbsp;here &amp; now</div>", "text/html")])
    mail = parse_mail(raw_mail(body, content_type='multipart/alternative; boundary="BOUNDARY-1"'))
    assert mail.text == "Only here & now"


def test_inline_text_parts_are_joined_in_order() -> None:
    body = multipart([part("First half."), part(b"\x89PNG", "image/png"), part("Second half.")])
    mail = parse_mail(raw_mail(body, content_type='multipart/mixed; boundary="BOUNDARY-1"'))
    assert mail.full_text == "First half.\n\nSecond half." and mail.has_attachments


def test_html_conversion() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<script>var secret = 1;</script><noscript>enable js</noscript>"
        "<p>Line&nbsp;one &lt;ok&gt; &eacute;&#248;&#x00e5;</p><div>Line<br>two</div>"
        "<ul><li>item a</li><li>item b</li></ul><table><tr><td>cell</td></tr></table>"
        "<!-- hidden comment --><img src='x' alt='pixel'></body></html>"
    )
    mail = parse_mail(raw_mail(html, content_type="text/html; charset=utf-8"))
    assert mail.full_text == "Line one <ok> éøå\n\nLine\ntwo\n\nitem a\n\nitem b\n\ncell"


def test_html_reply_quote_is_cut() -> None:
    html = (
        "<div>Can I still log in?</div><div class=gmail_quote>On Mon, 9 Sep 2024, Bot "
        "&lt;privacy@ciemtech.com&gt; wrote:<br><blockquote>Cookies are described in "
        "<p>section 9.</p></blockquote></div>"
    )
    mail = parse_mail(raw_mail(html, content_type="text/html"))
    assert mail.text == "Can I still log in?"
    assert "section 9." in mail.quoted_text and "Cookies" in mail.full_text


def test_deeply_nested_html_does_not_recurse() -> None:
    html = "<div>" * 20_000 + "deep question?" + "</div>" * 20_000
    assert "deep question?" in parse_mail(raw_mail(html, content_type="text/html")).text


@pytest.mark.parametrize(
    ("content_type", "close"),
    [
        ("multipart/mixed", True),  # no boundary parameter
        ('multipart/mixed; boundary="WRONG"', True),  # boundary never used
        ('multipart/mixed; boundary="BOUNDARY-1"', False),  # no closing line
        ('multipart/alternative; boundary="BOUNDARY-1"', False),
    ],
)
def test_broken_multiparts_are_read_best_effort(content_type: str, close: bool) -> None:
    body = multipart(
        [
            part("Please restrict processing of my data."),
            part(b64(b"\x89PNG..."), "image/png", cte="base64"),
        ],
        close=close,
    )
    mail = parse_mail(raw_mail(body, content_type=content_type))
    assert mail.text == "Please restrict processing of my data."
    assert mail.defects


def test_message_rfc822_and_reports_are_context_only() -> None:
    inner = raw_mail("Enclosed original text.", headers={"Subject": "inner"})
    body = multipart(
        [
            part("Your message could not be delivered."),
            part("Action: failed\r\n", "message/delivery-status"),
            part(inner, "message/rfc822"),
        ]
    )
    mail = parse_mail(
        raw_mail(
            body,
            content_type='multipart/report; report-type=delivery-status; boundary="BOUNDARY-1"',
        )
    )
    assert mail.is_report and mail.has_attachments and mail.subject == "A question"
    assert mail.full_text == "Your message could not be delivered."


def test_deeply_nested_multiparts() -> None:
    body = part("Nested question?")
    for depth in range(60):
        body = b'Content-Type: multipart/mixed; boundary="B%d"\r\n\r\n' % depth + multipart(
            [body], f"B{depth}"
        )
    mail = parse_mail(
        raw_mail(body.split(b"\r\n\r\n", 1)[1], content_type='multipart/mixed; boundary="B59"')
    )
    assert_well_formed(mail)
    assert "TooDeeplyNested" in mail.defects or "Nested question?" in mail.text


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"Subject: only headers",
        b"no headers, just a body line\r\n",
        bytes(range(256)) * 4,
        b"\x00" * 1000,
        b'From: <>\r\nSubject: =?\r\nContent-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n',
        b"Content-Type: text/plain; charset*=utf-8''%E6\r\n\r\nbody",
        b"Content-Type: text/html\r\n\r\n<",
        b"Content-Transfer-Encoding: base64\r\nContent-Type: text/plain\r\n\r\n=",
        b"Message-ID: <>\r\nFrom: \xff\xfe@\xff\r\n\r\n\xff\xfe",
        b":\r\n:\r\n\r\n",
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    assert_well_formed(parse_mail(raw))


def test_megabyte_body_is_capped_fast() -> None:
    line = "This is a long pasted document line about data processing terms.\r\n"
    body = "Do you use sub-processors?\r\n\r\n" + line * (1_050_000 // len(line))
    for cte, data in (("8bit", body.encode()), ("base64", b64(body.encode()))):
        started = time.perf_counter()
        mail = parse_mail(raw_mail(data, cte=cte))
        assert time.perf_counter() - started < 2.0, cte
        assert 95_000 < len(mail.full_text) <= 100_000 and "BodyTruncated" in mail.defects
        assert mail.text.startswith("Do you use sub-processors?")
    html = "<p>" + "Question about retention? " * 40_000 + "</p>"
    mail = parse_mail(raw_mail(html, content_type="text/html"), max_body_chars=5_000)
    assert len(mail.full_text) <= 5_000 and len(mail.text) <= 5_000


def test_zero_and_negative_caps() -> None:
    assert parse_mail(raw_mail(), max_body_chars=0).full_text == ""
    assert parse_mail(raw_mail(), max_body_chars=-5).text == ""


# --- new text: quotes and signatures --------------------------------------------------------

QUOTE_CASES = [
    (  # Outlook desktop
        "Yes, please go ahead.\n\n________________________________\nFrom: CiemTech Privacy "
        "<privacy@ciemtech.com>\nSent: 10 September 2024 10:02\nTo: Jane\nSubject: Re: data\n\n"
        "Shall we delete it?",
        "Yes, please go ahead.",
    ),
    (  # Danish Outlook
        "Ja tak.\n\nFra: CiemTech Privacy <privacy@ciemtech.com>\nSendt: 10. september 2024\n"
        "Til: Jens\nEmne: SV: data\n\nSkal vi slette dem?",
        "Ja tak.",
    ),
    ("Go ahead.\n\n-----Original Message-----\nFrom: x\nOld text", "Go ahead."),
    ("Gør det.\n\n-----Oprindelig meddelelse-----\nFra: x\nGammel tekst", "Gør det."),
    (  # Gmail wraps long attribution lines
        "Thanks!\n\nOn Tue, 10 Sep 2024 at 10:02, CiemTech Privacy <\nprivacy@ciemtech.com> "
        "wrote:\n> Old answer",
        "Thanks!",
    ),
    ("Tak!\n\nDen 5. sep. 2024 kl. 14.02 skrev Bot <privacy@ciemtech.com>:\n> Svar", "Tak!"),
    ("Tak!\n\ntors. 5. sep. 2024 kl. 14.02 skrev Bot <b@c.dk>:\n\n> Svar", "Tak!"),
    ("Fine.\n\nBegin forwarded message:\n\nFrom: a\nSubject: b\n\nbody", "Fine."),
    ("Se nedenfor.\n\n---------- Videresendt meddelelse ---------\nFra: a\n\nx", "Se nedenfor."),
    (  # bottom posting survives, quoted lines go
        "On Mon, Bob wrote:\n> Do you want it deleted?\n\nYes, delete everything.",
        "Yes, delete everything.",
    ),
    (  # interleaved answers survive
        "> Which account?\nThe one for shop.example.\n> Since when?\nSince 2020.",
        "The one for shop.example.\nSince 2020.",
    ),
    ("Delete my data.\n\nSent from my iPhone", "Delete my data."),
    ("Slet mine data.\n\nSendt fra min iPhone", "Slet mine data."),
    ("Question?\n\n-- \nJane Doe\nACME", "Question?"),
    ("Hej\n\nKan I hjælpe?\n\nMvh\nJens", "Hej\n\nKan I hjælpe?"),
    (
        "Hej\n\nKan I hjælpe?\n\nMed venlig hilsen\n\nJens Hansen\nVejlevej 1",
        "Hej\n\nKan I hjælpe?",
    ),
    ("Hi\n\nWhat data?\n\nRegards, Jane Doe", "Hi\n\nWhat data?"),
    (
        "Hi\n\nWhat data?\n\nKind regards,\nJane\n\nP.S. Also delete my account.",
        "Hi\n\nWhat data?\n\nP.S. Also delete my account.",
    ),
]

KEPT_CASES = [
    "Thanks, that helps. One more question: do you keep logs?",
    "Tak for svaret. Men hvad med cookies?",
    "Please correct my address.\nFrom: 14 Mill Lane\nTo: 3 Harbour Street",
    "Hi,\n\n- do you store my IP?\n- do you sell my data?",
    "Hi,\n\nThanks.\n\nAlso, please delete my account as soon as possible.",
    "Hi,\n\nThanks!\nDelete me.",
    "Here is what my colleague wrote:\nplease delete the account.",
    "Regards\n\nMy question is about cookies.",
    "--no-space-dashes are not a signature",
]


@pytest.mark.parametrize(("body", "expected"), QUOTE_CASES)
def test_quotes_and_signatures_are_cut(body: str, expected: str) -> None:
    mail = parse_mail(raw_mail(body.replace("\n", "\r\n")))
    assert mail.text == expected
    assert mail.quoted_text and expected.split("\n")[-1] in mail.full_text


@pytest.mark.parametrize("body", KEPT_CASES)
def test_ordinary_text_is_not_mistaken_for_quotes(body: str) -> None:
    mail = parse_mail(raw_mail(body.replace("\n", "\r\n")))
    assert mail.text == body and mail.quoted_text == ""


def test_whitespace_is_tidied() -> None:
    body = "  Hello\u00a0\u00a0there \t \r\n\r\n\r\n\r\n\u200bSecond\x07 line\r\n\r\n"
    assert parse_mail(raw_mail(body)).text == "Hello there\n\nSecond line"


# --- properties -----------------------------------------------------------------------------

SAMPLE_BYTES = [p.read_bytes() for p in SAMPLE_FILES if p.stat().st_size < 20_000]
HEADER_NAMES = [
    "From",
    "Subject",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Reply-To",
    "Message-ID",
    "References",
    "X-Other",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_property_arbitrary_bytes(raw: bytes) -> None:
    assert_well_formed(parse_mail(raw, max_body_chars=2000))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(HEADER_NAMES), st.text(max_size=80)), max_size=8),
    st.text(max_size=600),
)
def test_property_header_like_text(headers: list[tuple[str, str]], body: str) -> None:
    raw = "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n" + body
    assert_well_formed(parse_mail(raw.encode("utf-8", "surrogatepass")))


@needs_samples
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_mutated_samples(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(SAMPLE_BYTES)))
    for _ in range(data.draw(st.integers(1, 12))):
        at = data.draw(st.integers(0, len(raw)))
        kind = data.draw(st.sampled_from(["set", "insert", "delete", "cut", "dup"]))
        chunk = data.draw(
            st.sampled_from(
                [
                    b"\r\n",
                    b"--",
                    b"=?",
                    b"?=",
                    b"=",
                    b"<",
                    b">",
                    b":",
                    b"\x00",
                    b"\xff",
                    b"\r\n\r\n",
                    b'boundary="x"',
                ]
            )
            | st.binary(min_size=1, max_size=8)
        )
        if kind == "set":
            raw[at : at + len(chunk)] = chunk
        elif kind == "insert":
            raw[at:at] = chunk
        elif kind == "delete":
            del raw[at : at + data.draw(st.integers(1, 40))]
        elif kind == "cut":
            del raw[at:]
        else:
            raw[at:at] = raw[at : at + 200]
    assert_well_formed(parse_mail(bytes(raw)))
