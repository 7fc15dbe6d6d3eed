"""`privacybot triage`: DESIGN.md's JSON per file, a readable text form, nothing sent or stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from tests.conftest import ROOT
from tests.mailfactory import raw_mail

KEYS = {"file", "action", "reason", "request", "lang", "sections", "routes", "reply"}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder with DATA_DIR inside it, so anything written would show."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name in ("SMTP_URL", "DATABASE_URL", "IMAP_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write(folder: Path, name: str, raw: bytes) -> str:
    path = folder / name
    path.write_bytes(raw)
    return str(path)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["triage", "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_one_object_per_file_in_order(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    question = write(isolated, "q.eml", raw_mail("How long do you keep my invoices?"))
    request = write(isolated, "r.eml", raw_mail("Please delete all my personal data."))
    bounce = write(isolated, "b.eml", raw_mail("x", headers={"From": "MAILER-DAEMON@mx.example"}))
    got = run([question, request, bounce], capsys)
    assert [g["file"] for g in got] == [question, request, bounce]
    assert all(set(g) == KEYS for g in got)
    assert [g["action"] for g in got] == ["reply", "ticket", "ignore"]
    assert got[1]["request"] == "erasure" and got[1]["reply"]["subject"].startswith("Re:")
    assert got[2]["lang"] is None and got[2]["sections"] == [] and got[2]["reply"] is None


def test_reply_object(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = raw_mail("Hvor længe gemmer I mine fakturaer?", headers={"Reply-To": "desk@example.org"})
    (got,) = run([write(isolated, "q.eml", raw)], capsys)
    assert got["lang"] == "da" and got["sections"][0] == "12"
    reply = got["reply"]
    assert set(reply) == {"to", "subject", "body", "headers"}
    assert reply["to"] == "desk@example.org" and reply["subject"] == "Re: A question"
    assert reply["body"].startswith("Hej Alice Example")
    assert reply["headers"]["Auto-Submitted"] == "auto-replied"
    assert reply["headers"]["In-Reply-To"] == "<m1@example.com>"


def test_a_ticket_shows_the_acknowledgement(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = raw_mail("Please delete my account and all my personal data.")
    (got,) = run([write(isolated, "r.eml", raw)], capsys)
    assert got["action"] == "ticket" and set(got) == KEYS
    ack = got["reply"]
    assert set(ack) == {"to", "subject", "body", "headers"}
    assert ack["to"] == "Alice Example <alice@example.com>"
    assert "PRIV-DRYRUN" in ack["body"]
    assert ack["headers"]["X-Privacy-Bot"] == "ack"
    assert ack["headers"]["In-Reply-To"] == "<m1@example.com>"
    assert sorted(p.name for p in isolated.iterdir()) == ["r.eml"]


def test_unreadable_files_are_ignored_with_the_error(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = run([str(isolated / "missing.eml"), str(isolated)], capsys)
    assert [g["action"] for g in got] == ["ignore", "ignore"]
    assert "No such file" in got[0]["reason"] and "directory" in got[1]["reason"]


def test_nothing_is_sent_or_stored(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [write(isolated, f"{n}.eml", raw_mail(body)) for n, body in
             enumerate(["Do you use cookies?", "Please delete my account."])]  # fmt: skip
    run(files, capsys)
    assert sorted(p.name for p in isolated.iterdir()) == ["0.eml", "1.eml"]


def test_text_output(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(isolated, "q.eml", raw_mail("Do you use cookies?"))
    assert main(["triage", path]) == 0
    out = capsys.readouterr().out
    assert "REPLY" in out and "Subject: Re: A question" in out


def test_as_a_program_never_a_traceback(isolated: Path) -> None:
    broken = write(isolated, "x.eml", b"\xff\xfe\x00garbage\r\n\r\n--\r\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "triage", "--json", broken, str(isolated / "nope.eml")],
        capture_output=True, text=True, cwd=isolated, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATA_DIR": str(isolated / "d")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["action"] for x in lines] == ["ignore", "ignore"]
