"""Find the lexicon's concepts in a question: words and phrases matched on stem keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.knowledge import Concept
from bot.text import Stemmer, words
from bot.vocabulary import Token

MAX_GAP = 2  # words allowed between the words of a phrase


@dataclass(frozen=True)
class Match:
    """A concept found in a question, with how well it was read (1.0 = exact words)."""

    concept: Concept
    trust: float
    positions: tuple[int, ...]


@dataclass(frozen=True)
class _Phrase:
    concept: Concept
    parts: tuple[frozenset[str], ...]


class ConceptMatcher:
    """Indexes every term of every concept by its first word's keys."""

    def __init__(
        self,
        concepts: Sequence[Concept],
        stemmer: Stemmer,
        *,
        stopwords: frozenset[str] = frozenset(),
        skip_stopwords: bool = True,
    ) -> None:
        self._skip_stopwords = skip_stopwords
        self._by_first: dict[str, list[_Phrase]] = {}
        for concept in concepts:
            for term in (*concept.en, *concept.da):
                parts = tuple(frozenset(stemmer.keys(w)) for w in words(term))
                if not parts or (skip_stopwords and all(w in stopwords for w in words(term))):
                    continue
                phrase = _Phrase(concept, parts)
                for key in parts[0]:
                    self._by_first.setdefault(key, []).append(phrase)
        self.words = tuple(t for c in concepts for t in (*c.en, *c.da))

    def match(self, tokens: Sequence[Token]) -> list[Match]:
        """The concepts present, best-read first; one Match per concept."""
        found: dict[str, Match] = {}
        for start, token in enumerate(tokens):
            candidates = {id(p): p for k in token.keys for p in self._by_first.get(k, ())}
            for phrase in candidates.values():
                positions = self._follow(phrase, tokens, start)
                if positions is None:
                    continue
                trust = min(tokens[i].trust for i in positions)
                if self._skip_stopwords and len(positions) == 1 and tokens[start].stop:
                    continue
                name = phrase.concept.name
                if name not in found or trust > found[name].trust:
                    found[name] = Match(phrase.concept, trust, positions)
        return sorted(found.values(), key=lambda m: -m.trust)

    @staticmethod
    def _follow(phrase: _Phrase, tokens: Sequence[Token], start: int) -> tuple[int, ...] | None:
        positions = [start]
        at = start
        for part in phrase.parts[1:]:
            for nxt in range(at + 1, min(at + 2 + MAX_GAP, len(tokens))):
                if part & tokens[nxt].keys:
                    positions.append(nxt)
                    at = nxt
                    break
            else:
                return None
        return tuple(positions)
