"""Where a sender's new text ends: quoted replies, forwards and signatures, English and Danish."""

from __future__ import annotations

import re

# Where the sender's new text ends (English and Danish mail clients).
_CUT_ALL = re.compile(
    r"-{2,}\s*(?:original message|oprindelig (?:meddelelse|besked)|original meddelelse"
    r"|forwarded message|videresendt (?:meddelelse|besked|e-?mail))\s*-*"
    r"|(?:begin forwarded message|start på videresendt (?:meddelelse|besked))\s*:?",
    re.I,
)
_STRONG_WROTE = re.compile(r"(?:on|den)\s.{0,300}\b(?:wrote|skrev)\b.{0,300}:", re.I)
_WEAK_WROTE = re.compile(r".{0,300}\b(?:wrote|skrev)\b.{0,300}:", re.I)
_HDR_FROM = re.compile(r"\*?(?:from|fra)\s*:\*?\s*\S", re.I)
_HDR_NEXT = re.compile(r"\*?(?:sent|sendt|date|dato|to|til|subject|emne|cc)\s*:", re.I)
_RULE = re.compile(r"[_-]{10,}")
_MOBILE = re.compile(
    r"(?:sent from my|sendt fra min|sent from outlook|get outlook for|hent outlook til"
    r"|sent from mail for windows|sendt fra mail til windows)\b.{0,60}",
    re.I,
)
_PS = re.compile(r"p\.?\s?p?\.?\s?s\b", re.I)
CLOSINGS = frozenset((  # a line that is only one of these (plus punctuation) ends the new text
    "regards", "best regards", "kind regards", "kindest regards", "warm regards", "best wishes",
    "warmest regards", "with best regards", "with kind regards", "many thanks", "thanks", "best",
    "thank you", "thanks in advance", "thank you in advance", "thanks again", "with thanks",
    "cheers", "all the best", "sincerely", "yours sincerely", "yours faithfully", "yours truly",
    "rgds", "br", "med venlig hilsen", "venlig hilsen", "mvh", "vh", "hilsen", "venlige hilsner",
    "kærlig hilsen", "kh", "bedste hilsner", "de bedste hilsner", "bedste hilsen", "dbh", "tak",
    "mange hilsner", "mange tak", "på forhånd tak", "på forhånd tak for hjælpen", "tak for hjælpen",
))


def _is_name_block(lines: list[str]) -> bool:
    """Lines after a closing look like a name/contact block: few, short, not sentences."""
    block = lines[1 if lines and not lines[0].strip() else 0 :]
    block = block[: next((n for n, s in enumerate(block) if not s.strip()), len(block))]
    return len(block) <= 4 and all(
        len(s) <= 60 and len(s.split()) <= 8 and s[-1] not in ".?!:" and "?" not in s
        for s in (x.strip() for x in block)
    )


def _is_closing(line: str) -> bool:
    if len(line) > 80:
        return False
    norm = re.sub(r"[\s.,!:;–-]+$", "", " ".join(line.lower().split())).replace(".", "")
    head, comma, tail = line.partition(",")
    names = tail.split()
    return norm in CLOSINGS or (
        bool(comma) and head.strip().lower() in CLOSINGS and 0 < len(names) <= 3
        and all(w[:1].isupper() for w in names) and tail.strip()[-1] not in ".?!"
    )


def _quote_header(lines: list[str], i: int) -> tuple[int, bool]:
    """(line count, strong) of an "On ... wrote:" / "Den ... skrev:" header at line i."""
    first = lines[i].strip().lower()
    strong_start = first.startswith(("on ", "den "))
    if not strong_start and "wrote" not in first and "skrev" not in first:
        return 0, False
    for n in (1, 2, 3) if strong_start else (1,):
        chunk = [x.strip() for x in lines[i : i + n]]
        joined = " ".join(chunk)
        if len(chunk) < n or "" in chunk or len(joined) > 600:
            break
        if joined.endswith(":") and re.search(r"wrote|skrev", joined, re.I):
            if _STRONG_WROTE.fullmatch(joined):
                return n, True
            if n == 1 and _WEAK_WROTE.fullmatch(joined):
                return 1, False
    return 0, False


def split_reply(body: str) -> tuple[str, str]:
    """(new text, cut text): quotes, quote headers, forwards and signatures are cut."""
    lines = body.split("\n")
    keep: list[str] = []
    cut: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        span, strong = _quote_header(lines, i) if line else (0, False)
        if span and next((x.strip() for x in lines[i + span :] if x.strip()), "")[:1] == ">":
            cut.extend(lines[i : i + span])  # header of an ordinary '>' quote: bottom posts survive
            i += span
            continue
        outlook = bool(_HDR_FROM.match(line)) and len(
            {m.group().lower() for x in lines[i + 1 : i + 6] if (m := _HDR_NEXT.match(x.strip()))}
        ) >= 2
        if strong or outlook or _CUT_ALL.fullmatch(line) or _MOBILE.fullmatch(line) or line == "--":
            while keep and (not keep[-1].strip() or _RULE.fullmatch(keep[-1].strip())):
                cut.insert(0, keep.pop())
            cut.extend(lines[i:])
            break
        (cut if line.startswith(">") else keep).append(lines[i])
        i += 1
    seen = False
    for k, line in enumerate(keep):
        if seen and _is_closing(line) and _is_name_block(keep[k + 1 : k + 7]):
            ps = next((j for j in range(k + 1, len(keep)) if _PS.match(keep[j].strip())), None)
            cut[:0] = keep[k:ps]
            keep = keep[:k] + (keep[ps:] if ps is not None else [])
            break
        seen = seen or bool(line.strip())
    return "\n".join(keep), "\n".join(cut)
