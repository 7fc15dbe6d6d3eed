"""Find the lexicon's concepts in a question: words and phrases matched on stem keys."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.knowledge import Concept
from bot.text import Stemmer, words
from bot.vocabulary import Token

MAX_GAP = 2  # words allowed between the words of a phrase
_CHOICE = re.compile(r"\(([^()]*\|[^()]*)\)")
_SLOT = re.compile(r"\(([^()]*)\)|([^\s()]+)")


def expand(term: str) -> list[str]:
    """`(site|shop) + (runs on|made with)` -> `(site|shop) + runs on`, `(site|shop) + made with`:
    groups with a multi-word option are spelled out; one-word groups stay (see `slots`)."""
    found = next((m for m in _CHOICE.finditer(term) if " " in m.group(1).strip()), None)
    if not found:
        return [term]
    head, tail = term[: found.start()], term[found.end() :]
    return [
        t for option in found.group(1).split("|") for t in expand(f"{head}{option.strip()}{tail}")
    ]


def slots(text: str, stemmer: Stemmer) -> tuple[frozenset[str], ...]:
    """The stem keys each word position may have: `(shop|store) built` -> ({shop, store}, {built})."""
    out: list[frozenset[str]] = []
    for group, plain in _SLOT.findall(text):
        if group:
            keys = frozenset(
                k for option in group.split("|") for w in words(option) for k in stemmer.keys(w)
            )
            out += [keys] if keys else []
        else:
            out += [frozenset(stemmer.keys(w)) for w in words(plain)]
    return tuple(out)


@dataclass(frozen=True)
class Match:
    """A concept found in a question, with how well it was read (1.0 = exact words)."""

    concept: Concept
    trust: float
    positions: tuple[int, ...]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class _Phrase:
    concept: Concept
    parts: tuple[frozenset[str], ...]
    also: tuple[tuple[frozenset[str], ...], ...] = ()  # "samtykke + gælder ikke": anywhere
    rest: tuple[frozenset[str], ...] = ()  # every word but the first: each must be in the question


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
        # One-word phrases by their word's keys; longer ones by their first two words' keys,
        # so that only phrases whose second word follows closely are ever tried.
        self._by_first: dict[str, list[_Phrase]] = {}
        self._by_pair: dict[tuple[str, str], list[_Phrase]] = {}
        for concept in concepts:
            for term in (t for raw in (*concept.en, *concept.da) for t in expand(raw)):
                head, *extras = term.split(" + ")
                parts = slots(head, stemmer)
                if not parts or (
                    skip_stopwords and "(" not in head and all(w in stopwords for w in words(head))
                ):
                    continue
                also = tuple(part for part in (slots(x, stemmer) for x in extras) if part)
                rest = (*parts[1:], *(part for extra in also for part in extra))
                phrase = _Phrase(concept, parts, also, rest)
                if len(parts) == 1:
                    for key in parts[0]:
                        self._by_first.setdefault(key, []).append(phrase)
                else:
                    for pair in {(a, b) for a in parts[0] for b in parts[1]}:
                        self._by_pair.setdefault(pair, []).append(phrase)
        self.words = tuple(t for c in concepts for t in (*c.en, *c.da))
        every = [p for ps in (*self._by_first.values(), *self._by_pair.values()) for p in ps]
        self.keys = frozenset(
            k for p in every for part in (*p.parts, *(x for a in p.also for x in a)) for k in part
        )

    def match(self, tokens: Sequence[Token]) -> list[Match]:
        """The concepts present, best-read first; one Match per concept."""
        found: dict[str, Match] = {}
        present = frozenset().union(*(t.keys for t in tokens))
        for start, token in enumerate(tokens):
            near = tokens[start + 1 : start + 2 + MAX_GAP]
            candidates = [p for k in token.keys for p in self._by_first.get(k, ())]
            candidates += [
                p
                for k in token.keys
                for following in near
                for k2 in following.keys
                for p in self._by_pair.get((k, k2), ())
            ]
            for phrase in dict.fromkeys(candidates):
                if any(part.isdisjoint(present) for part in phrase.rest):
                    continue
                positions = self._locate(phrase, tokens, start)
                if positions is None:
                    continue
                trust = min(tokens[i].trust for i in positions)
                if self._skip_stopwords and len(positions) == 1 and tokens[start].stop:
                    continue
                name = phrase.concept.name
                if name not in found or trust > found[name].trust:
                    found[name] = Match(phrase.concept, trust, positions)
        return sorted(found.values(), key=lambda m: -m.trust)

    def _locate(
        self, phrase: _Phrase, tokens: Sequence[Token], start: int
    ) -> tuple[int, ...] | None:
        """Where the phrase stands from `start`, plus its `+` parts anywhere; None if absent."""
        positions = self._follow(phrase.parts, tokens, start)
        for extra in phrase.also:
            found = self._anywhere(extra, tokens) if positions is not None else None
            positions = None if found is None or positions is None else positions + found
        return positions

    @classmethod
    def _anywhere(
        cls, parts: tuple[frozenset[str], ...], tokens: Sequence[Token]
    ) -> tuple[int, ...] | None:
        for start, token in enumerate(tokens):
            if parts[0] & token.keys:
                found = cls._follow(parts, tokens, start)
                if found is not None:
                    return found
        return None

    @staticmethod
    def _follow(
        parts: tuple[frozenset[str], ...], tokens: Sequence[Token], start: int
    ) -> tuple[int, ...] | None:
        positions = [start]
        at = start
        for part in parts[1:]:
            for nxt in range(at + 1, min(at + 2 + MAX_GAP, len(tokens))):
                if part & tokens[nxt].keys:
                    positions.append(nxt)
                    at = nxt
                    break
            else:
                return None
        return tuple(positions)
