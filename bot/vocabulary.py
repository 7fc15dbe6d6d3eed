"""Turn a question into tokens with stem keys, mending typos and splitting Danish compounds."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.text import Stemmer, fold, squash, words

FUZZY_CUTOFF = 82.0
MIN_FUZZY_LEN = 4
MIN_PART = 4
MIN_FOREIGN = 5  # a word of the other language is read as a typo only from this length


@dataclass(frozen=True)
class Token:
    """One word of a question: its stem keys, and how sure we are that we read it right."""

    word: str
    keys: frozenset[str]
    trust: float  # 1.0 as written, < 1 when mended by fuzzy matching or compound splitting
    stop: bool


class Vocabulary:
    """The words the bot knows (policy, knowledge and lexicon), for typo-tolerant lookup."""

    def __init__(
        self,
        stemmer: Stemmer,
        texts: Mapping[str, Iterable[str]],
        stopwords: frozenset[str],
        keys: Iterable[str] = (),
    ) -> None:
        """`texts` by language ("en", "da", or "any") give the known spellings; `keys` are the
        stem keys the indexes hold (set later with `know()` when the indexes are built)."""
        self.stemmer = stemmer
        self.stopwords = frozenset(squash(fold(w)) for w in stopwords)
        self._surface: dict[str, str] = {}  # spelling -> a word as written, stemmed on demand
        self._langs: dict[str, set[str]] = {}  # spelling -> languages it is known in
        for lang, lang_texts in texts.items():
            for word in dict.fromkeys(w for text in lang_texts for w in words(text)):
                form = squash(fold(word))
                self._surface.setdefault(form, word)
                self._langs.setdefault(form, set()).add(lang)
        self._keys = frozenset(keys)
        self._choices = sorted(f for f in self._surface if len(f) >= MIN_FUZZY_LEN)
        self._by_lang = {
            lang: sorted(f for f in self._choices if self._langs[f] & {lang, "any"})
            for lang in ("en", "da")
        }
        self._lookup = lru_cache(maxsize=32768)(self._token)

    def know(self, keys: Iterable[str]) -> None:
        """Declare the stem keys the indexes hold (before the first `analyse`)."""
        self._keys = frozenset(keys)
        self._lookup.cache_clear()

    def split(self, word: str) -> tuple[str, str] | None:
        """`selskabsregistrering` -> (`selskab`, `registrering`): two known spellings, the
        longest tail first, a linking s/e dropped; None when the word is not such a compound."""
        form = squash(fold(word))
        if len(form) < 2 * MIN_PART + 1:
            return None
        for cut in range(MIN_PART, len(form) - MIN_PART + 1):
            head, tail = form[:cut], form[cut:]
            if tail not in self._surface or len(tail) < MIN_PART + 1:
                continue
            for candidate in (head, head[:-1] if head[-1] in "se" else ""):
                if len(candidate) >= MIN_PART and candidate in self._surface:
                    return self._surface[candidate], self._surface[tail]
        return None

    def known(self, word: str) -> bool:
        form = squash(fold(word))
        return form in self._surface or any(k in self._keys for k in self.stemmer.keys(word))

    def analyse(self, text: str, lang: str | None = None) -> list[Token]:
        """The question's words in order, each with the keys it may stand for. With `lang`, a
        word known only in the other language may also be a typo in this one (`delte my acount`)."""
        return [self._lookup(word, lang) for word in words(text)]

    def _token(self, word: str, lang: str | None) -> Token:
        form = squash(fold(word))
        stop = form in self.stopwords
        keys = frozenset(self.stemmer.keys(word))
        if stop or word.isdigit():
            return Token(word, keys, 1.0, stop)
        if form in self._surface or keys & self._keys:
            if lang in self._by_lang and not self._langs.get(form, set()) & {lang, "any"}:
                other = self._fuzzy(form, self._by_lang[lang], MIN_FOREIGN)
                if other is not None:
                    return Token(word, keys | other[0], 1.0, stop)
            return Token(word, keys, 1.0, stop)
        mended = (
            self._hyphenated(word)
            or self._decompound(form)
            or self._fuzzy(form, self._choices, MIN_FUZZY_LEN)
        )
        if mended is None:
            return Token(word, keys, 1.0, stop)
        extra, trust = mended
        return Token(word, keys | extra, trust, stop)

    def _fuzzy(
        self, form: str, choices: list[str], min_len: int
    ) -> tuple[frozenset[str], float] | None:
        if len(form) < min_len or not choices:
            return None
        found = process.extractOne(form, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if found is None:
            return None
        return self._keys_of(found[0]), 0.6 + 0.4 * (found[1] - FUZZY_CUTOFF) / (100 - FUZZY_CUTOFF)

    def _hyphenated(self, word: str) -> tuple[frozenset[str], float] | None:
        """`Google-knappen` -> the keys of `google` and of `knappen`."""
        parts = [p for p in re.split(r"[-’']", word) if p]
        if len(parts) < 2:
            return None
        return frozenset(k for p in parts for k in self._token(p, None).keys), 0.9

    def _decompound(self, form: str) -> tuple[frozenset[str], float] | None:
        """`opbevaringsperiode` -> keys of `opbevaring` and `periode` (linking s/e dropped)."""
        if len(form) < 2 * MIN_PART + 1:
            return None
        for cut in range(len(form) - MIN_PART, MIN_PART - 1, -1):
            head, tail = form[:cut], form[cut:]
            tail_keys = self._part(tail)
            if tail_keys is None:
                continue
            for candidate in (head, head[:-1] if head[-1] in "se" else ""):
                head_keys = self._part(candidate) if len(candidate) >= MIN_PART else None
                if head_keys is not None:
                    return head_keys | tail_keys, 0.8
        return None

    def _keys_of(self, form: str) -> frozenset[str]:
        return frozenset(self.stemmer.keys(self._surface[form]))

    def _part(self, form: str) -> frozenset[str] | None:
        if form in self._surface:
            return self._keys_of(form)
        keys = frozenset(self.stemmer.keys(form))
        return keys if keys & self._keys and len(form) >= MIN_PART + 1 else None
