"""Slack mrkdwn from plain text and from the policy's markdown: escaping, links, bold, clipping."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

ELLIPSIS = "…"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"(\*\*)|\[([^\]]*)\]\(([^)]*)\)|<((?:https?://|mailto:)[^\s<>]+)>")
_SPACE = re.compile(r"\s+")


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str) -> str:
    """Plain text as mrkdwn: escaped, with email addresses as mailto links."""
    out, last = [], 0
    for match in _EMAIL.finditer(text):
        address = match.group(0).rstrip(".")
        end = match.start() + len(address)
        out += [escape(text[last : match.start()]), f"<mailto:{address}|{address}>"]
        last = end
    out.append(escape(text[last:]))
    return "".join(out)


@dataclass(frozen=True)
class Span:
    """A run of policy text with one style; the texts joined give the policy's plain text."""

    text: str
    bold: bool = False
    link: str | None = None


def spans(markdown: str) -> list[Span]:
    """Split policy markdown (`**bold**`, `[label](target)`, `<https://…>`) into styled runs."""
    out: list[Span] = []
    bold, last = False, 0
    for match in _TOKEN.finditer(markdown):
        if match.start() > last:
            out.append(Span(markdown[last : match.start()], bold))
        last = match.end()
        if match.group(1):
            bold = not bold
        elif match.group(4):
            out.append(Span(match.group(0), bold, match.group(4)))
        else:
            label, target = match.group(2).replace("**", ""), match.group(3).strip()
            if label:
                out.append(Span(label, bold, target))
    if last < len(markdown):
        out.append(Span(markdown[last:], bold))
    return out


def _link(span: Span, text: str) -> str:
    target = span.link or ""
    if text != span.text or not target.startswith(("http://", "https://", "mailto:")):
        return plain(text)  # a cut link or a link to nowhere (`(#)`) keeps its label only
    if text == f"<{target}>":
        return f"<{target}>"
    label = escape(text).replace("|", "¦")
    return f"<{target}|{label}>"


def _emphasis(body: str) -> str:
    """`*body*`, with surrounding blanks kept outside the asterisks (or Slack ignores them)."""
    stripped = body.strip()
    if not stripped:
        return body
    lead = body[: len(body) - len(body.lstrip())]
    trail = body[len(body.rstrip()) :]
    return f"{lead}*{stripped}*{trail}"


def render(runs: list[Span], start: int = 0, end: int | None = None) -> str:
    """Slack mrkdwn for the plain-text range [start, end) of some runs."""
    pieces: list[tuple[bool, str]] = []
    offset = 0
    for span in runs:
        lo, hi = offset, offset + len(span.text)
        offset = hi
        a, b = max(lo, start), min(hi, end if end is not None else hi)
        if a >= b:
            continue
        text = span.text[a - lo : b - lo]
        pieces.append((span.bold, _link(span, text) if span.link else plain(text)))
    return "".join(
        _emphasis("".join(t for _, t in group)) if bold else "".join(t for _, t in group)
        for bold, group in groupby(pieces, key=lambda piece: piece[0])
    )


def find_loose(haystack: str, needle: str) -> tuple[int, int] | None:
    """Where `needle` occurs in `haystack` when any run of whitespace counts as one blank."""
    positions: list[int] = []
    collapsed: list[str] = []
    for match in re.finditer(r"\s+|\S", haystack):
        positions.append(match.start())
        collapsed.append(" " if match.group(0).isspace() else match.group(0))
    target = _SPACE.sub(" ", needle.strip())
    if not target:
        return None
    index = "".join(collapsed).find(target)
    if index < 0:
        return None
    last = index + len(target) - 1
    return positions[index], positions[last] + 1


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters with "…", never inside a link or an entity."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ELLIPSIS))]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    entity = re.search(r"&[a-z]*$", cut)
    if entity:
        cut = cut[: entity.start()]
    return cut.rstrip() + ELLIPSIS


def quoted(text: str) -> str:
    """Every line of `text` as a Slack block quote."""
    return "\n".join(
        f">{line}" if line.startswith(" ") else f"> {line}" for line in text.split("\n")
    )
