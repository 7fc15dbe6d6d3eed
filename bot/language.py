"""Tell English from Danish: function words plus character trigrams learned from knowledge/."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache

from bot.text import fold, squash, words

LANGS = ("en", "da")


def _trigrams(word: str) -> list[str]:
    padded = f"^{squash(fold(word))}$"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


class LanguageDetector:
    """Naive Bayes over character trigrams, nudged by function words and æ/ø/å."""

    def __init__(self, corpora: Mapping[str, str], stopwords: Mapping[str, frozenset[str]]) -> None:
        self._stop = {
            lang: frozenset(squash(fold(w)) for w in stopwords.get(lang, ())) for lang in LANGS
        }
        self._logp: dict[str, dict[str, float]] = {}
        self._unseen: dict[str, float] = {}
        for lang in LANGS:
            counts: Counter[str] = Counter()
            for word, n in Counter(words(corpora.get(lang, ""))).items():
                for gram in _trigrams(word):
                    counts[gram] += n
            total = sum(counts.values()) + 20_000
            self._logp[lang] = {t: math.log((c + 1) / total) for t, c in counts.items()}
            self._unseen[lang] = math.log(1 / total)
        self._word = lru_cache(maxsize=65536)(self._evidence)

    def scores(self, text: str) -> dict[str, float]:
        """Log-evidence for each language (higher is more likely)."""
        out = dict.fromkeys(LANGS, 0.0)
        tokens = words(text)
        if any(ch in text.lower() for ch in "æøå"):
            out["da"] += 4.0
        for word in tokens:
            for lang, value in self._word(word).items():
                out[lang] += value
        return out

    def _evidence(self, word: str) -> dict[str, float]:
        """One word's log-evidence for each language (cached per word)."""
        key = squash(fold(word))
        in_en, in_da = key in self._stop["en"], key in self._stop["da"]
        grams = _trigrams(word)
        out = {}
        for lang in LANGS:
            table, unseen = self._logp[lang], self._unseen[lang]
            out[lang] = sum(table.get(g, unseen) for g in grams) / max(len(grams), 1) * 2
            if in_en != in_da and (lang == "en") == in_en:
                out[lang] += 3.0
        return out

    def detect(self, text: str, default: str = "en") -> str:
        """`en` or `da`; `default` when the text gives no evidence either way."""
        if not words(text):
            return default
        scores = self.scores(text)
        if abs(scores["da"] - scores["en"]) < 1e-9:
            return default
        return max(scores, key=lambda lang: scores[lang])
