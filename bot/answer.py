"""Compose the answer a person reads: direct answer, route, verbatim clause, in their language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.knowledge import Knowledge
from bot.policy import Paragraph
from bot.retrieval import Ranking
from bot.text import Stemmer, words

MAX_QUOTE = 700  # characters; a longer paragraph is cut to its best sentences with "…"
MAX_DIRECT = 2  # sentences of a section's direct answer kept when it has more
RELATED = 0.75  # a runner-up section at least this close to the top one is named as related
_SENTENCE = re.compile(r"(?<=[.;!?])\s+(?=[A-ZÆØÅ\"“(0-9])|\n+")
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "da": ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august",
           "september", "oktober", "november", "december"),
}  # fmt: skip


@dataclass(frozen=True)
class SectionRef:
    """A cited section as the JSON contract shows it."""

    id: str
    title: str
    score: float


@dataclass(frozen=True)
class Answer:
    """Everything a door needs to render an answer (and the JSON contract of DESIGN.md)."""

    question: str
    lang: str
    answered: bool
    sections: tuple[SectionRef, ...]
    quote: str
    quote_anchor: str | None
    contacts: tuple[str, ...]
    request: str | None
    direct: str
    route_lines: tuple[str, ...]
    notes: tuple[str, ...]
    text: str
    policy_sha256: str
    effective_date: date | None
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "lang": self.lang,
            "answered": self.answered,
            "sections": [{"id": s.id, "title": s.title, "score": s.score} for s in self.sections],
            "quote": self.quote,
            "quote_anchor": self.quote_anchor,
            "contacts": list(self.contacts),
            "request": self.request,
            "text": self.text,
            "confidence": self.confidence,
            "policy": {
                "sha256": self.policy_sha256,
                "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            },
        }


def format_date(day: date | None, lang: str) -> str:
    if day is None:
        return "?"
    month = _MONTHS["da" if lang == "da" else "en"][day.month - 1]
    return f"{day.day}. {month} {day.year}" if lang == "da" else f"{day.day} {month} {day.year}"


class Composer:
    """Turns a Ranking into an Answer; knows each paragraph's stems to pick the quote."""

    def __init__(self, knowledge: Knowledge, stemmer: Stemmer) -> None:
        self.knowledge = knowledge
        self.stemmer = stemmer
        self._para_keys: dict[tuple[str, int], list[str]] = {}
        for section in knowledge.policy.sections:
            for p in section.paragraphs:
                self._para_keys[(section.id, p.index)] = stemmer.parts(p.plain, "da")
        self._concept_keys = {
            c.name: frozenset(k for t in (*c.en, *c.da) for w in words(t) for k in stemmer.keys(w))
            for c in knowledge.concepts
        }

    def title(self, section_id: str, lang: str) -> str:
        info = self.knowledge.sections[section_id]
        if lang == "en":
            return info.title_en
        return info.title_da or self.knowledge.policy.section(section_id).title

    def compose(
        self, question: str, lang: str, ranking: Ranking, request: str | None = None
    ) -> Answer:
        kn = self.knowledge
        refs = tuple(
            SectionRef(h.section_id, self.title(h.section_id, lang), h.score) for h in ranking.hits
        )
        confidence = self._confidence(ranking)
        if not ranking.answered or ranking.top is None:
            lines = [kn.message(lang, "not_covered"), kn.message(lang, "offer_human")]
            return self._answer(question, lang, False, refs, "", None, (kn.human_route,), request,
                                lines[0], (kn.routes[kn.human_route].how(lang),), (), "\n\n".join(lines),
                                confidence)  # fmt: skip
        top = ranking.top
        info = kn.sections[top]
        paragraph = self.best_paragraph(top, ranking.terms)
        quote = self.excerpt(paragraph, ranking.terms)
        contacts = self._contacts(list(info.routes), ranking)
        notes: list[str] = []
        for match in ranking.concepts:
            note = match.concept.note_da if lang == "da" else match.concept.note_en
            if note and note not in notes:
                notes.append(note)
        direct = (
            kn.message(lang, "section_lookup", section=top, title=refs[0].title)
            if ranking.named_section == top
            else self.focus(info.answer_da if lang == "da" else info.answer_en, lang, ranking)
        )
        if top in kn.who_asks_sections and not any(m.concept.role for m in ranking.concepts):
            notes.append(kn.message(lang, "other_cases"))
        if request:
            notes.append(
                kn.message(lang, "request_noted", kind=kn.kinds.get(lang, {}).get(request, request))
            )
        if confidence < 0.5:
            notes.append(kn.message(lang, "low_confidence"))
        route_lines = tuple(kn.routes[r].how(lang) for r in contacts)
        related = [r.id for r in refs[1:3] if r.score >= RELATED]
        parts = [direct, *notes]
        if route_lines:
            parts.append(
                kn.message(lang, "route_heading") + ":\n" + "\n".join(f"- {x}" for x in route_lines)
            )
        label = f"{top}, {paragraph.label}" if paragraph.label else top
        parts.append(
            kn.message(lang, "clause_heading", section=label, title=refs[0].title) + ":\n"
            + "\n".join(f"> {line}" for line in quote.splitlines()) + "\n"
            + kn.message(lang, "clause_note", date=format_date(kn.policy.effective_date, lang))
        )  # fmt: skip
        if related:
            parts.append(kn.message(lang, "also_see", sections=", ".join(related)))
        return self._answer(question, lang, True, refs, quote, paragraph.anchor, tuple(contacts), request,
                            direct, route_lines, tuple(notes), "\n\n".join(parts), confidence)  # fmt: skip

    def _answer(self, question: str, lang: str, answered: bool, refs: tuple[SectionRef, ...],
                quote: str, anchor: str | None, contacts: tuple[str, ...], request: str | None,
                direct: str, route_lines: tuple[str, ...], notes: tuple[str, ...], text: str,
                confidence: float) -> Answer:  # fmt: skip
        policy = self.knowledge.policy
        return Answer(question, lang, answered, refs, quote, anchor, contacts, request, direct,
                      route_lines, notes, text, policy.sha256, policy.effective_date, confidence)  # fmt: skip

    @staticmethod
    def _contacts(routes: list[str], ranking: Ranking) -> list[str]:
        """Who asks comes first (an applicant -> jobs@), then the section's routes, then the
        routes of what the question asks to do (delete -> privacy@, cookies -> browser)."""
        roles = [r for m in ranking.concepts if m.concept.role for r in m.concept.routes]
        actions = [r for m in ranking.concepts if not m.concept.role for r in m.concept.routes]
        return list(dict.fromkeys([*roles, *routes, *actions]))

    @staticmethod
    def _confidence(ranking: Ranking) -> float:
        if ranking.named_section:
            return 1.0
        if not ranking.hits:
            return 0.0
        margin = 1.0 - (ranking.hits[1].score if len(ranking.hits) > 1 else 0.0)
        evidence = min(ranking.relevance / 2.0, 1.0)
        return round(min(1.0, 0.5 * evidence + 0.5 * min(1.0, 0.4 + margin * 2)), 3)

    def focus(self, answer: str, lang: str, ranking: Ranking) -> str:
        """The sentences of a section's direct answer that speak to the question (at most
        MAX_DIRECT, in their order); the first ones when none does in particular."""
        sentences = [x.strip() for x in _SENTENCE.split(answer) if x.strip()]
        if len(sentences) <= MAX_DIRECT:
            return answer
        asked = set(ranking.terms).union(
            *(self._concept_keys[m.concept.name] for m in ranking.concepts)
        )
        scores = [len(asked & set(self.stemmer.parts(x, lang))) for x in sentences]
        if not any(scores):
            return " ".join(sentences[:MAX_DIRECT])
        best = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[:MAX_DIRECT]
        return " ".join(sentences[i] for i in sorted(best) if scores[i] or i == min(best))

    def best_paragraph(self, section_id: str, terms: dict[str, float]) -> Paragraph:
        section = self.knowledge.policy.section(section_id)

        def score(p: Paragraph) -> float:
            keys = self._para_keys[(section_id, p.index)]
            found = {k for k in keys if k in terms}
            return sum(terms[k] for k in found)

        best = max(section.paragraphs, key=lambda p: (score(p), -p.index))
        return best if score(best) > 0 else section.paragraphs[0]

    def excerpt(self, paragraph: Paragraph, terms: dict[str, float]) -> str:
        """The paragraph, or its best run of sentences joined by "…" when it is long."""
        text = paragraph.plain
        if len(text) <= MAX_QUOTE:
            return text
        sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
        scores = [
            sum(terms.get(k, 0.0) for k in set(self.stemmer.parts(s, "da"))) for s in sentences
        ]
        best_start, best_score, best_end = 0, -1.0, 1
        for start in range(len(sentences)):
            length, total, end = 0, 0.0, start
            while end < len(sentences) and (
                end == start or length + len(sentences[end]) <= MAX_QUOTE
            ):
                length += len(sentences[end]) + 1
                total += scores[end]
                end += 1
            if total > best_score:
                best_start, best_score, best_end = start, total, end
        chosen = " ".join(sentences[best_start:best_end])
        prefix = "… " if best_start > 0 else ""
        suffix = " …" if best_end < len(sentences) else ""
        return f"{prefix}{chosen}{suffix}"
