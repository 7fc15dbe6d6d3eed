"""Tell a formal data-subject request ("please delete my data") from a question about one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.concepts import ConceptMatcher, Match
from bot.errors import KnowledgeError
from bot.knowledge import Concept
from bot.text import Stemmer
from bot.vocabulary import Token, Vocabulary

KINDS = ("access", "erasure", "rectification", "restriction", "portability", "objection",
         "withdraw_consent", "marketing_opt_out")  # fmt: skip
MARKERS = ("request", "hypothetical", "reported", "question", "polite", "inform", "imperative")
NEGATION_WINDOW = 4  # words before a kind phrase (2 after it, for Danish) that can negate it
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+|\?")
_CLAUSE = re.compile(r"\s*(?:[,;:]|\s[–—-]\s)\s*")
_LEAD_IN = frozenset("please kindly so and but also then ok okay hi hey hello dear venligst og men "
                     "så sa derfor hej kære kaere".split())  # fmt: skip


@dataclass(frozen=True)
class Detection:
    """The request kind found (None for a question), and the sentence that made it."""

    kind: str | None
    sentence: str | None = None
    reason: str = ""


class RequestDetector:
    """Rules over stemmed phrases from knowledge/requests.toml; no I/O, no state."""

    def __init__(self, spec: Mapping[str, Any], vocabulary: Vocabulary, stemmer: Stemmer) -> None:
        if "markers" not in spec or "kind" not in spec:
            raise KnowledgeError("requests.toml needs [markers] and [kind.*] tables")
        self.vocabulary = vocabulary
        self.order = [k for k in spec["kind"] if k in KINDS]
        unknown = [k for k in spec["kind"] if k not in KINDS]
        if unknown:
            raise KnowledgeError(f"requests.toml: unknown request kind(s) {unknown}")
        concepts = [_concept(f"m:{name}", spec["markers"].get(name, [])) for name in MARKERS]
        for kind, table in spec["kind"].items():
            concepts.append(_concept(f"k:{kind}", table.get("phrases", [])))
            concepts.append(_concept(f"p:{kind}", table.get("performative", [])))
        self.matcher = ConceptMatcher([c for c in concepts if c.en], stemmer, skip_stopwords=False)
        negation = spec["markers"].get("negation", [])
        self.negation = frozenset(w.lower() for w in negation if " " not in w)

    def detect(self, text: str) -> Detection:
        """The first sentence worded as a request decides the kind."""
        sentences = [s for s in (x.strip() for x in _SENTENCE.split(text)) if s]
        analysed = [
            (s, tokens, self.matcher.match(tokens))
            for s in sentences
            for tokens in [self.vocabulary.analyse(s)]
        ]
        if any(m.concept.name == "m:reported" for _, _, found in analysed for m in found):
            return Detection(None, reason="reported speech: someone asks about a request")
        for sentence, tokens, found in analysed:
            detection = self._sentence(sentence, text, tokens, found)
            if detection.kind:
                return detection
        return Detection(None, reason="no sentence is worded as a request")

    def _sentence(
        self, sentence: str, text: str, tokens: Sequence[Token], found: Sequence[Match]
    ) -> Detection:
        matches = _longest([m for m in found if not self._negated(m, tokens)])
        names = {m.concept.name for m in matches}
        kinds = [k for k in self.order if f"k:{k}" in names or f"p:{k}" in names]
        if not kinds:
            return Detection(None)
        if "m:hypothetical" in names and not self._polite_not_hypothetical(matches):
            return Detection(None, sentence, "hypothetical")
        kind = kinds[0]
        asked = sentence.endswith("?") or self._asks(text, sentence)
        performative = [k for k in kinds if f"p:{k}" in names]
        if performative and not asked:
            return Detection(performative[0], sentence, "performative")
        led_by = self._leader(tokens, matches)
        if led_by in ("kind", "imperative") and not asked:
            return Detection(kind, sentence, "imperative")
        if led_by == "polite" and "m:inform" not in names:
            return Detection(kind, sentence, "asks us to act")
        if "m:request" in names and led_by != "question":
            return Detection(kind, sentence, "request wording")
        if self._clause_imperative(sentence) and not asked:
            return Detection(kind, sentence, "imperative clause")
        return Detection(None, sentence, "question about the process")

    def _leader(self, tokens: Sequence[Token], matches: Sequence[Match]) -> str | None:
        """What the sentence starts with: a kind phrase, a polite ask, a question word."""
        start = next((i for i, t in enumerate(tokens) if t.word not in _LEAD_IN), len(tokens))
        for match in matches:
            if match.positions[0] != start:
                continue
            name = match.concept.name
            if name.startswith(("k:", "p:")):
                return "kind"
            if name in ("m:polite", "m:question", "m:imperative"):
                return name[2:]
        return None

    @staticmethod
    def _polite_not_hypothetical(matches: Sequence[Match]) -> bool:
        """`Vil I rette det?` / `Would you delete it?` ask us to act, though "ville I" and
        "would you" can also open a hypothetical: where both start together, politeness wins."""
        starts = {m.concept.name: m.positions[0] for m in matches}
        return "m:polite" in starts and starts.get("m:hypothetical") == starts["m:polite"]

    def _clause_imperative(self, sentence: str) -> bool:
        """`Mit firmanavn står forkert, ret det til ...`: a later clause opens with a kind phrase."""
        for clause in _CLAUSE.split(sentence)[1:]:
            tokens = self.vocabulary.analyse(clause)
            if tokens and self._leader(tokens, self.matcher.match(tokens)) in (
                "kind",
                "imperative",
            ):
                return True
        return False

    def _negated(self, match: Match, tokens: Sequence[Token]) -> bool:
        """`don't delete it yet`, `slet dem ikke`: a kind phrase with a negation next to it."""
        if not match.concept.name.startswith(("k:", "p:")):
            return False
        inside = {tokens[i].word for i in match.positions}
        if inside & self.negation:
            return False
        first, last = min(match.positions), max(match.positions)
        before = tokens[max(0, first - NEGATION_WINDOW) : first]
        after = tokens[last + 1 : last + 3]
        return any(t.word in self.negation for t in before) or any(
            t.word in ("ikke", "aldrig") for t in after
        )

    @staticmethod
    def _asks(text: str, sentence: str) -> bool:
        end = text.find(sentence) + len(sentence)
        return text[end : end + 1] == "?"


def _longest(matches: list[Match]) -> list[Match]:
    """Drop a kind phrase inside a longer one of another kind: in "min ret til sletning"
    ("my right to erasure") the word "ret" ("correct!") is not a rectification."""
    kinds = [m for m in matches if m.concept.name.startswith(("k:", "p:"))]
    inside = {
        id(m)
        for m in kinds
        for other in kinds
        if other is not m
        and set(m.positions) < set(other.positions)
        and other.concept.name[2:] != m.concept.name[2:]
    }
    return [m for m in matches if id(m) not in inside]


def request_phrases(spec: Mapping[str, Any]) -> list[str]:
    """Every phrase of requests.toml, so the vocabulary knows their words."""
    out = [p for phrases in spec.get("markers", {}).values() for p in phrases]
    for table in spec.get("kind", {}).values():
        out += [*table.get("phrases", []), *table.get("performative", [])]
    return out


def _concept(name: str, phrases: Sequence[str]) -> Concept:
    return Concept(name, tuple(phrases), (), {}, 0.0)
