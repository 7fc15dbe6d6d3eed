"""Rank the policy's leaf sections for a question in English or Danish (hybrid lexical)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.bm25 import BM25
from bot.concepts import ConceptMatcher, Match
from bot.knowledge import Knowledge
from bot.text import Stemmer, words
from bot.vocabulary import Token, Vocabulary

# How the three signals are mixed, and how much privacy evidence a question needs.
W_POLICY, W_KNOWLEDGE, W_CONCEPTS = 0.1, 0.4, 0.2
# Each signal is divided by its maximum for the question, but never by less than the maximum a
# typical question reaches, so a signal with little evidence stays small.
FLOOR_POLICY, FLOOR_KNOWLEDGE, FLOOR_CONCEPTS = 10.0, 7.0, 0.9
ROLE_BOOST = 0.15  # added to the main section of a role concept (who asks decides where to look)
EXPANSION = 0.35  # weight of a concept's Danish words when they expand an English question
MIN_RELEVANCE = 0.4  # privacy evidence below which the bot declines and offers a human
GENERIC = 0.4  # a concept lighter than this is a generic word: it counts only a quarter
GENERIC_SHARE = 0.25
_SECTION_REF = re.compile(
    r"(?:\b(?P<cue>section|sections|afsnit|afsnittet|clause|paragraph|punkt|§)\s*)?"
    r"(?<![\d.])(?P<id>\d{1,2}(?:\.\d{1,2})?)(?![\d]|\.\d)",
    re.IGNORECASE,
)
_NOT_OURS = re.compile(r"\b(?:art|article|artikel|gdpr)\.?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    """One ranked section: its id and a score from 0 to 1."""

    section_id: str
    score: float


@dataclass(frozen=True)
class Ranking:
    """The outcome of retrieval for one question."""

    hits: tuple[Hit, ...]
    relevance: float
    concepts: tuple[Match, ...]
    named_section: str | None
    terms: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.named_section is not None or (
            bool(self.hits) and self.relevance >= MIN_RELEVANCE
        )

    @property
    def top(self) -> str | None:
        return self.hits[0].section_id if self.hits else None


class Retriever:
    """BM25 over the Danish policy and over our bilingual notes, plus concept evidence."""

    def __init__(
        self, knowledge: Knowledge, stemmer: Stemmer, texts: Mapping[str, list[str]]
    ) -> None:
        """`texts`: everything whose spelling the bot should know (for typo mending)."""
        self.knowledge = knowledge
        self.stemmer = stemmer
        self.ids = knowledge.policy.ids
        stem = self.stemmer
        stopwords = frozenset().union(*knowledge.stopwords.values())
        self.vocabulary = Vocabulary(stem, texts, stopwords)
        policy_docs, note_docs = [], []
        for sid in self.ids:
            section = knowledge.policy.section(sid)
            info = knowledge.sections[sid]
            danish = f"{section.title} {section.parent_title or ''} {section.plain}"
            policy_docs.append(self._danish_keys(danish))
            english = " ".join((info.title_en, info.answer_en, *info.questions_en))
            danish_notes = " ".join((info.answer_da, *info.questions_da))
            note_docs.append(stem.parts(english, "en") + self._danish_keys(danish_notes))
        self.policy_index = BM25(policy_docs)
        self.note_index = BM25(note_docs)
        self.matcher = ConceptMatcher(knowledge.concepts, stem, stopwords=stopwords)
        self._expansion = {
            c.name: tuple(
                dict.fromkeys(
                    k for t in c.da for k in stem.parts(t, "da") if k in self.policy_index
                )
            )
            for c in knowledge.concepts
        }
        self.vocabulary.know(
            set(self.policy_index.weights) | set(self.note_index.weights) | self.matcher.keys
        )

    def _danish_keys(self, text: str) -> list[str]:
        """Danish stem keys of a text, long compounds also giving their parts' keys."""
        keys = []
        for word in words(text):
            keys.append(self.stemmer.key(word, "da"))
            parts = self.vocabulary.split(word) if len(word) > 2 * 4 else None
            if parts:
                keys += [self.stemmer.key(p, "da") for p in parts]
        return keys

    def rank(self, question: str, lang: str | None = None, limit: int = 5) -> Ranking:
        tokens = self.vocabulary.analyse(question, lang)
        named = self._named_section(question)
        matches = self.matcher.match(tokens)
        content = [t for t in tokens if not t.stop]
        policy = self._score(self.policy_index, content)
        notes = self._score(self.note_index, content)
        terms = self._terms(content, matches)
        for term, weight in terms.items():
            if weight < 1.0:
                for i, w in self.policy_index.term(term).items():
                    policy[i] += w * weight
        concepts = [0.0] * len(self.ids)
        position = {sid: i for i, sid in enumerate(self.ids)}
        for match in matches:
            for sid, w in match.concept.sections.items():
                concepts[position[sid]] += w * match.trust * match.concept.weight
        combined = [
            W_POLICY * p + W_KNOWLEDGE * n + W_CONCEPTS * c
            for p, n, c in zip(
                _unit(policy, FLOOR_POLICY),
                _unit(notes, FLOOR_KNOWLEDGE),
                _unit(concepts, FLOOR_CONCEPTS),
                strict=True,
            )
        ]
        for match in matches:
            if match.concept.role and match.concept.sections:
                main = max(match.concept.sections, key=lambda sid: match.concept.sections[sid])
                combined[position[main]] += ROLE_BOOST * match.trust
        if named is not None:
            combined[position[named]] = max(combined) + 1.0
        top = max(combined) or 1.0
        order = sorted(range(len(self.ids)), key=lambda i: -combined[i])
        hits = tuple(
            Hit(self.ids[i], round(combined[i] / top, 3)) for i in order[:limit] if combined[i] > 0
        )
        relevance = _relevance(matches)
        return Ranking(hits, round(relevance, 3), tuple(matches), named, terms)

    def _score(self, index: BM25, tokens: list[Token]) -> list[float]:
        scores = [0.0] * len(self.ids)
        for token in tokens:
            best: dict[int, float] = {}
            for key in token.keys:
                for i, w in index.term(key).items():
                    if w > best.get(i, 0.0):
                        best[i] = w
            for i, w in best.items():
                scores[i] += w * token.trust
        return scores

    def _terms(self, tokens: list[Token], matches: list[Match]) -> dict[str, float]:
        """Policy terms of the question (weight 1) and of its concepts' Danish words (less)."""
        terms: dict[str, float] = {}
        for token in tokens:
            for key in token.keys:
                if key in self.policy_index:
                    terms[key] = 1.0
        for match in matches:
            for key in self._expansion[match.concept.name]:
                if key not in terms:
                    terms[key] = EXPANSION * match.trust
        return terms

    def _named_section(self, question: str) -> str | None:
        """`what does 8.6 say?`, `afsnit 11`, `§ 5.3`: a policy section named by number."""
        for found in _SECTION_REF.finditer(question):
            sid = found.group("id")
            if _NOT_OURS.search(question[: found.start()]):
                continue
            if "." not in sid and not found.group("cue"):
                continue
            leaf = self._leaf(sid)
            if leaf is not None:
                return leaf
        return None

    def _leaf(self, sid: str) -> str | None:
        if sid in self.ids:
            return sid
        children = [s for s in self.ids if s.startswith(sid + ".")]
        return children[0] if children else None


def _relevance(matches: list[Match]) -> float:
    """Privacy evidence: clear privacy concepts count fully, generic words a quarter, off-topic
    concepts (negative weight: prices, product features) count against."""
    total = 0.0
    for match in matches:
        weight = match.concept.weight
        share = GENERIC_SHARE if 0 <= weight < GENERIC else 1.0
        total += weight * share * match.trust
    return total


def _unit(values: list[float], floor: float) -> list[float]:
    top = max(max(values, default=0.0), floor)
    return [v / top for v in values]
