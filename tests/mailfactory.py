"""Builders of raw test emails (bytes), well-formed or deliberately broken."""

from __future__ import annotations

import base64
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "emails"

BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("From", "Alice Example <alice@example.com>"),
    ("To", "privacy@ciemtech.com"),
    ("Subject", "A question"),
    ("Date", "Mon, 09 Sep 2024 10:00:00 +0200"),
    ("Message-ID", "<m1@example.com>"),
    ("MIME-Version", "1.0"),
)


def raw_mail(
    body: bytes | str = b"Hello, do you store my IP address?\r\n",
    *,
    headers: dict[str, str | None] | None = None,
    content_type: str | None = 'text/plain; charset="utf-8"',
    cte: str | None = None,
) -> bytes:
    """A message: base headers, overridden or removed (value None) by `headers`, then body."""
    fields: dict[str, str | None] = dict(BASE_HEADERS)
    if content_type is not None:
        fields["Content-Type"] = content_type
    if cte is not None:
        fields["Content-Transfer-Encoding"] = cte
    extra = headers or {}
    for name in list(fields):
        for given in extra:
            if given.lower() == name.lower():
                del fields[name]
    fields.update(extra)
    head = b"".join(
        f"{name}: {value}\r\n".encode("utf-8", "surrogateescape")
        for name, value in fields.items()
        if value is not None
    )
    data = body.encode("utf-8") if isinstance(body, str) else body
    return head + b"\r\n" + data


def part(
    body: bytes | str,
    content_type: str = 'text/plain; charset="utf-8"',
    *,
    cte: str | None = None,
    extra: str = "",
) -> bytes:
    """One MIME body part (headers and body), without boundaries."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    head = f"Content-Type: {content_type}\r\n"
    if cte:
        head += f"Content-Transfer-Encoding: {cte}\r\n"
    return (head + extra).encode() + b"\r\n" + data


def multipart(
    parts: list[bytes], boundary: str = "BOUNDARY-1", *, close: bool = True, preamble: bytes = b""
) -> bytes:
    """The body of a multipart entity made of `parts`, optionally without the closing line."""
    sep = f"--{boundary}\r\n".encode()
    body = preamble + b"".join(sep + p + b"\r\n" for p in parts)
    return body + (f"--{boundary}--\r\n".encode() if close else b"")


def b64(text: bytes, width: int = 76) -> bytes:
    """Base64 in lines of `width` characters, as mailers write it."""
    encoded = base64.b64encode(text)
    return b"\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width)) + b"\r\n"
