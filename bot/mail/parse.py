"""Pure, never-raising reading of one raw email into an InboundMail (headers, body, new text)."""

from __future__ import annotations

import binascii
import codecs
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses
from types import MappingProxyType

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.mail.quotes import split_reply


@dataclass(frozen=True)
class InboundMail:
    """One decoded inbound email; `text` is the sender's new text, `full_text` the whole body."""

    message_id: str
    sender: str
    sender_name: str
    reply_to: str
    subject: str
    text: str
    full_text: str
    quoted_text: str
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: Mapping[str, tuple[str, ...]] = field(hash=False, repr=False)
    is_report: bool
    has_attachments: bool
    defects: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """The first decoded value of header `name` (any case), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


ADDRESS = re.compile(r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_LEGACY = frozenset({"", "ascii", "iso8859-1", "cp1252"})  # often mislabelled: try UTF-8 first
_NOT_TEXT = frozenset({"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined"})
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]")
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200d\u2028\u2029\u2060\ufeff]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u200b-\u200d\u2060\ufeff]")
_HSPACE = re.compile(r"[ \t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
# MIME headers so long that the modern policy's parser turns quadratic: read with compat32.
_MIME_HEADER = re.compile(rb"^content-[\w-]*:(?:[^\r\n]*\r?\n[ \t])*[^\r\n]*", re.I | re.M)
_BOUNDARY_LINE = re.compile(r"^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?$", re.M)
_ATTACHED = ("image/", "audio/", "video/", "application/", "font/", "model/")
_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
    "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
))
_DROPPED = ["script", "style", "head", "title", "noscript", "template", "svg", "iframe", "object"]
def _to_text(data: bytes, label: str | None, defects: list[str]) -> str:
    """Decode with the declared charset, else UTF-8, else windows-1252; never raises."""
    name = re.sub(r"[^\w.:+-]", "", (label or "").lower())[:40]
    try:
        codec = codecs.lookup(name).name if name else ""
    except LookupError:
        codec = ""
    if name and (not codec or codec in _NOT_TEXT):
        defects.append(f"UnknownCharset({name})")
        codec = ""
    for attempt in ("utf-8",) if codec in _LEGACY else (codec, "utf-8"):
        try:
            return data.decode(attempt)
        except UnicodeDecodeError as error:  # a character cut off at the end: drop just that
            if error.reason == "unexpected end of data" and error.end == len(data):
                return _to_text(data[: error.start], attempt, defects)
        except (UnicodeError, LookupError, ValueError):
            pass
    if codec not in _LEGACY:
        defects.append(f"CharsetMismatch({name})")
    return data.decode("cp1252", "replace")


def _b64(data: bytes) -> tuple[bytes, bool]:
    """Lenient base64: skip illegal characters, decode every complete (or 2-3 char) quantum."""
    clean = _B64_JUNK.sub(b"", data)
    broken = len(clean) != len(re.sub(rb"\s+", b"", data)) or len(clean) % 4 != 0
    out: list[bytes] = []
    for chunk in re.split(rb"=+", clean):
        whole = len(chunk) - len(chunk) % 4
        tail = chunk[whole:]
        out.append(binascii.a2b_base64(chunk[:whole]))
        if len(tail) >= 2:
            out.append(binascii.a2b_base64(tail + b"=" * (4 - len(tail))))
    return b"".join(out), broken


def _unescape(value: str) -> str:
    """Surrogate-escaped 8-bit bytes (raw non-ASCII headers) back into text."""
    if value.isascii():
        return value
    return _to_text(value.encode("utf-8", "surrogateescape"), None, [])


def _words(value: str, defects: list[str]) -> str:
    """RFC 2047 decoding; adjacent words in one charset are joined before decoding."""
    parts: list[tuple[str, str | bytes]] = []
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        if gap and not (gap.isspace() and parts and parts[-1][0]):
            parts.append(("", gap))
        charset, data = m.group(1).split("*")[0].lower(), m.group(3).encode("utf-8", "replace")
        raw = _b64(data)[0] if m.group(2) in "bB" else binascii.a2b_qp(data, header=True)
        last = parts[-1] if parts else ("", "")
        if last[0] == charset and isinstance(last[1], bytes):
            parts[-1] = (charset, last[1] + raw)
        else:
            parts.append((charset, raw))
        pos = m.end()
    parts.append(("", value[pos:]))
    return "".join(p if isinstance(p, str) else _to_text(p, cs, defects) for cs, p in parts)


def _clean(value: str) -> str:
    """One line: every run of whitespace or control characters becomes one space."""
    return _SPACES.sub(" ", value).strip()


def _address(values: list[str], defects: list[str]) -> tuple[str, str]:
    """(display name, bare lowercased address) of the first address in a raw header."""
    raw = _unescape(values[0])[:2000] if values else ""
    try:
        pairs = [p for text in (raw, _words(raw, defects)) for p in getaddresses([text]) if p[1]]
    except RecursionError:  # comments nested hundreds deep
        pairs = []
    name, addr = next((p for p in pairs if "@" in p[1]), pairs[0] if pairs else ("", ""))
    found = ADDRESS.search(raw)
    if "@" not in addr and found:
        name, addr = "", found.group()
    return _clean(_words(name, defects)), _SPACES.sub("", addr).lower()[:320]


def _ids(value: str | None) -> tuple[str, ...]:
    """Message ids without <>; bare tokens when a sender forgot the brackets."""
    found = _MSG_ID.findall(value or "") or (value or "").split()
    return tuple(i for i in (x.strip("<>") for x in found) if i)


def _html_text(html: str, limit: int) -> str:
    """Readable text of HTML: block elements on their own lines, blockquotes as '> ' lines."""
    root = LexborHTMLParser(html).root
    if root is None:
        return ""
    root.strip_tags(_DROPPED)
    out: list[str] = []
    size = depth = 0
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack and size < limit:
        node, leaving = stack.pop()
        tag = node.tag or ""
        if tag == "-text":
            piece = _HSPACE.sub(" ", (node.text_content or "").replace("\n", " "))
        elif leaving or tag == "br" or tag in _BLOCKS:
            depth += (tag == "blockquote") * (-1 if leaving else 1)
            piece = "\n> " if depth > 0 else "\n"
        else:
            piece = ""
        out.append(piece)
        size += len(piece)
        if not leaving and tag and not tag.startswith("-"):
            if tag in _BLOCKS:
                stack.append((node, True))
            children, child = [], node.child
            while child is not None:
                children.append(child)
                child = child.next
            stack.extend((c, False) for c in reversed(children))
    return "".join(out)


def _tidy(text: str) -> str:
    """Unix newlines, no control characters, single spaces, at most one blank line in a row."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[\x85\u2028\u2029]", "\n", text)
    text = "\n".join(_HSPACE.sub(" ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _boundary(payload: object) -> str | None:
    """A multipart body without a usable boundary parameter, rebuilt from its first '--' line."""
    found = _BOUNDARY_LINE.search(payload) if isinstance(payload, str) else None
    head = f'Content-Type: multipart/mixed; boundary="{found.group(1)}"\r\n\r\n' if found else ""
    return head + str(payload) if found else None


def _payload(part: Message) -> object:
    """The undecoded body: a list of parts, or text whose 8-bit bytes are surrogate-escaped.

    Read directly because `get_payload()` re-decodes 8-bit text with the declared charset,
    losing bytes under an unknown or wrong label, and raises on some malformed labels.
    """
    return getattr(part, "_payload", None)


def _leaves(msg: Message, defects: list[str], recover: bool = True) -> tuple[list[Message], bool]:
    """Inline text/plain and text/html parts in order, and whether anything was attached."""
    texts: list[Message] = []
    attached = False
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        defects.extend(type(d).__name__ for d in part.defects)
        ctype, payload = part.get_content_type(), _payload(part)
        if ctype.startswith("message/"):  # enclosed messages, delivery reports: context only
            attached = attached or ctype in ("message/rfc822", "message/global")
        elif isinstance(payload, list):
            if depth >= 40:
                defects.append("TooDeeplyNested")
                continue
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
        elif (
            part.get_content_disposition() == "attachment"
            or part.get_filename()
            or ctype.startswith(_ATTACHED)
        ):
            attached = True
        elif ctype.startswith("multipart/") and recover and (rebuilt := _boundary(payload)):
            sub = message_from_bytes(rebuilt.encode("utf-8", "surrogateescape"))
            more_texts, more_attached = _leaves(sub, [], recover=False)
            texts.extend(more_texts or [part])
            attached = attached or more_attached
        elif ctype in ("text/plain", "text/html") or ctype.startswith("multipart/"):
            texts.append(part)
    return texts, attached


def _leaf_text(part: Message, limit: int, defects: list[str]) -> str:
    """Decoded text of one part, at most `limit` characters (HTML converted)."""
    payload = _payload(part)
    raw = (payload if isinstance(payload, str) else "")[: limit * 13 + 4096].encode(
        "utf-8", "surrogateescape"
    )
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":  # the stdlib gives up on some broken base64: decode leniently here
        raw, broken = _b64(raw)
        if broken:
            defects.append("InvalidBase64")
    elif cte == "quoted-printable":
        raw = binascii.a2b_qp(raw)
    text = _to_text(raw[: limit * 4], part.get_content_charset(), defects)
    html = part.get_content_type() == "text/html"
    if len(raw) > limit * 4 or len(text) > (limit * 8 if html else limit):
        defects.append("BodyTruncated")
    return _html_text(text[: limit * 8], limit) if html else text[:limit]


def _parse(raw: bytes, limit: int, mode: policy.Policy, defects: list[str]) -> InboundMail:
    msg = message_from_bytes(raw, policy=mode)
    headers: dict[str, list[str]] = {}
    raw_headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = _clean(_unescape(str(name))).lower()
        raw_headers.setdefault(key, []).append(str(value))
        headers.setdefault(key, []).append(_clean(_words(_unescape(str(value)), defects)))
    first = {k: v[0] for k, v in headers.items()}
    sender_name, sender = _address(raw_headers.get("from", []), defects)
    reply_to = _address(raw_headers.get("reply-to", []), defects)[1]
    message_id = next(iter(_ids(first.get("message-id"))), "")
    parts, attached = _leaves(msg, defects)
    bodies: dict[bool, list[str]] = {True: [], False: []}
    size = 0
    for part in parts:
        if size >= limit:
            defects.append("BodyTruncated")
            break
        text = _tidy(_leaf_text(part, limit - size, defects))
        bodies[part.get_content_type() == "text/html"].append(text)
        size += len(text)
    full = "\n\n".join([t for t in bodies[False] if t] or [t for t in bodies[True] if t])
    if len(full) > limit:
        defects.append("BodyTruncated")
    new, cut = split_reply(full[:limit])
    return InboundMail(
        message_id=message_id[:998] or "sha256:" + hashlib.sha256(raw).hexdigest(),
        sender=sender,
        sender_name=sender_name,
        reply_to=reply_to if ADDRESS.fullmatch(reply_to) else sender,
        subject=first.get("subject", ""),
        text=_tidy(new)[:limit],
        full_text=full[:limit],
        quoted_text=_tidy(cut)[:limit],
        in_reply_to=next(iter(_ids(first.get("in-reply-to"))), None),
        references=_ids(" ".join(headers.get("references", []))),
        headers=MappingProxyType({k: tuple(v) for k, v in headers.items()}),
        is_report=msg.get_content_type() == "multipart/report",
        has_attachments=attached,
        defects=tuple(dict.fromkeys(d.removesuffix("Defect") for d in defects)),
    )


def parse_mail(raw: bytes, *, max_body_chars: int = 100_000) -> InboundMail:
    """Read one raw RFC 5322 message; never raises, problems are listed in `defects`."""
    data = bytes(raw) if isinstance(raw, bytes | bytearray | memoryview) else b""
    limit = max(0, max_body_chars)
    modern = all(len(m.group()) < 2000 for m in _MIME_HEADER.finditer(data))
    for mode in (policy.default, policy.compat32) if modern else (policy.compat32,):
        try:
            problem = "ModernFailed" if modern else "HugeMimeHeader"
            return _parse(data, limit, mode, [] if mode is policy.default else [problem])
        except Exception:  # any failure falls through to a simpler reading
            pass
    text = _tidy(_to_text(re.split(rb"\r?\n\r?\n", data, maxsplit=1)[-1][: limit * 4], None, []))
    return InboundMail(
        message_id="sha256:" + hashlib.sha256(data).hexdigest(), sender="", sender_name="",
        reply_to="", subject="", text=text[:limit], full_text=text[:limit], quoted_text="",
        in_reply_to=None, references=(), headers=MappingProxyType({}), is_report=False,
        has_attachments=False, defects=("Unparseable",),
    )
