"""Parse the Danish privacy policy (markdown) into leaf sections, paragraphs and contacts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date

from bot.errors import KnowledgeError
from bot.text import fold, slug

_TOP = re.compile(r"^(\d{1,2})\.\s+(\S.*)$")
_SUB = re.compile(r"^(\d{1,2})\.(\d{1,2})\.?\s*(.*)$", re.DOTALL)
_BOLD_LEAD = re.compile(r"^\*\*(.+?)\*\*:?")
_LABEL = re.compile(r"^([\"“”]?[A-ZÆØÅ][^.:;!?\n]{1,45}?):\s+\S")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"<?((?:https?://|www\.)[^\s<>()]+?)>?(?=[\s)]|[.,;](?:\s|$)|$)")
_POSTAL = re.compile(
    r"([A-ZÆØÅ][\wæøå]+(?:gade|vej|allé|plads|stræde)\s+\d+[^\n]*?\d{4},?\s+[A-ZÆØÅ][\wæøå]+)"
)
_DATE = re.compile(r"Ikrafttrædelsesdato:\s*(\d{1,2})\.\s*([a-zæøå]+)\.?\s*(\d{4})", re.IGNORECASE)
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "maj": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "okt": 10, "nov": 11, "dec": 12,
}  # fmt: skip


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a leaf section, verbatim, with page-break residue mended."""

    section_id: str
    index: int
    text: str
    label: str | None = None

    @property
    def plain(self) -> str:
        """The paragraph without markdown emphasis and link targets."""
        return strip_markdown(self.text)

    @property
    def anchor(self) -> str:
        """A finer id below the leaf (`9/cookies`) for a named paragraph, else the leaf id."""
        return f"{self.section_id}/{slug(self.label)}" if self.label else self.section_id


@dataclass(frozen=True)
class Section:
    """A leaf section of the policy: its id, Danish heading and paragraphs."""

    id: str
    title: str
    parent_title: str | None
    paragraphs: tuple[Paragraph, ...]

    @property
    def plain(self) -> str:
        return "\n\n".join(p.plain for p in self.paragraphs)


@dataclass(frozen=True)
class Policy:
    """The parsed policy: leaf sections in document order plus what it says about contact."""

    title: str
    effective_date: date | None
    sha256: str
    sections: tuple[Section, ...]
    emails: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    postal_addresses: tuple[str, ...] = ()
    _by_id: dict[str, Section] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({s.id: s for s in self.sections})

    def section(self, section_id: str) -> Section:
        """The leaf section with this id (a finer id such as `9/cookies` gives its leaf)."""
        leaf = section_id.split("/", 1)[0]
        try:
            return self._by_id[leaf]
        except KeyError:
            raise KeyError(f"no policy section {section_id!r}") from None

    def __contains__(self, section_id: object) -> bool:
        return isinstance(section_id, str) and section_id.split("/", 1)[0] in self._by_id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sections)


def strip_markdown(text: str) -> str:
    """Drop `**` emphasis and turn `[label](target)` into `label`; keep everything else."""
    text = _LINK.sub(r"\1", text)
    text = text.replace("**", "")
    return text


def _blocks(source: str) -> list[str]:
    """Blank-line separated blocks, with sentences cut by a page break joined again."""
    raw = [b.strip() for b in re.split(r"\n\s*\n", source.replace("\r\n", "\n")) if b.strip()]
    out: list[str] = []
    for block in raw:
        if out and not re.search(r"[.!?:;)\]*]\s*$", out[-1]) and block[0].islower():
            out[-1] = f"{out[-1]} {block}"
        else:
            out.append(block)
    return out


def _is_heading(rest: str) -> bool:
    return len(rest) <= 90 and not rest.endswith((".", ";", ","))


def _sub_title(rest: str) -> tuple[str, bool]:
    """Title of a `5.1. ...` block and whether the block is a heading only."""
    if "\n" not in rest and _is_heading(rest) and not _BOLD_LEAD.match(rest):
        return rest.rstrip(":").strip(), True
    bold = _BOLD_LEAD.match(rest)
    if bold:
        return bold.group(1).rstrip(":").strip(), False
    label = _LABEL.match(rest)
    if label:
        return label.group(1).strip(), False
    first = re.split(r"(?<=[.!?])\s", rest, maxsplit=1)[0]
    return (first[:57].rsplit(" ", 1)[0] + " …") if len(first) > 60 else first, False


def parse_policy(source: str) -> Policy:
    """Split the policy into the leaf sections of DESIGN.md; raise KnowledgeError if it cannot."""
    blocks = _blocks(source)
    if not blocks:
        raise KnowledgeError("the policy file is empty")
    title = strip_markdown(blocks[0])
    effective = _effective_date(source)
    current_id, current_title, parent = "intro", "Indledning", None
    parents: dict[str, str] = {}
    top = 0
    collected: dict[str, tuple[str, str | None, list[str]]] = {"intro": (current_title, None, [])}
    order = ["intro"]
    for block in blocks[1:]:
        if _DATE.match(block):
            continue
        sub = _SUB.match(block)
        head = _TOP.match(block) if "\n" not in block else None
        if head and int(head.group(1)) == top + 1 and _is_heading(head.group(2)):
            top += 1
            current_id, current_title, parent = str(top), head.group(2).strip(), None
            parents[current_id] = current_title
            collected[current_id] = (current_title, None, [])
            order.append(current_id)
            continue
        if sub and int(sub.group(1)) == top and top > 0:
            parent_id = str(top)
            parent = parents.get(parent_id)
            current_id = f"{top}.{int(sub.group(2))}"
            current_title, heading_only = _sub_title(sub.group(3).strip())
            collected[current_id] = (current_title, parent, [])
            order.append(current_id)
            if parent_id in collected and not collected[parent_id][2]:
                del collected[parent_id]
                order.remove(parent_id)
            if not heading_only:
                collected[current_id][2].append(sub.group(3).strip())
            continue
        collected[current_id][2].append(block)
    sections = []
    for sid in order:
        if sid not in collected:
            continue
        heading, parent_title, texts = collected[sid]
        if sid.isdigit() and any(o.startswith(sid + ".") for o in order):
            continue  # a parent's lead-in ("8. ... på følgende måder:") is not a leaf
        paragraphs = tuple(
            Paragraph(sid, i, text, _label(text) if i or "." not in sid else None)
            for i, text in enumerate(texts)
        )
        if not paragraphs:
            raise KnowledgeError(f"policy section {sid} has no text")
        sections.append(Section(sid, heading, parent_title, paragraphs))
    plain = strip_markdown(source)
    return Policy(
        title=title,
        effective_date=effective,
        sha256=hashlib.sha256(source.encode("utf-8")).hexdigest(),
        sections=tuple(sections),
        emails=tuple(dict.fromkeys(m.lower() for m in _EMAIL.findall(plain))),
        urls=tuple(dict.fromkeys(m.rstrip(".") for m in _URL.findall(source))),
        postal_addresses=tuple(dict.fromkeys(" ".join(m.split()) for m in _POSTAL.findall(plain))),
    )


def _label(text: str) -> str | None:
    match = _LABEL.match(text)
    if not match or len(match.group(1).split()) > 4:
        return None
    return match.group(1).strip('"“” ')


def _effective_date(source: str) -> date | None:
    match = _DATE.search(source)
    if not match:
        return None
    month = _MONTHS.get(fold(match.group(2))[:3])
    if month is None:
        return None
    return date(int(match.group(3)), month, int(match.group(1)))
