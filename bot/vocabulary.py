"""Turn a question into tokens with stem keys, mending typos and splitting Danish compounds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.text import Stemmer, fold, squash, words

FUZZY_CUTOFF = 82.0
MIN_FUZZY_LEN = 4
MIN_PART = 4


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
        self, stemmer: Stemmer, texts: Iterable[str], stopwords: frozenset[str], keys: Iterable[str] = ()
    ) -> None:
        """`texts` give the known spellings; `keys` the stem keys that the indexes hold
        (set later with `know()` when the indexes are built from this vocabulary's splits)."""
        self.stemmer = stemmer
        self.stopwords = frozenset(squash(fold(w)) for w in stopwords)
        self._surface: dict[str, str] = {}  # spelling -> a word as written, stemmed on demand
        for text in texts:
            for word in words(text):
                self._surface.setdefault(squash(fold(word)), word)
        self._keys = frozenset(keys)
        self._choices = sorted(f for f in self._surface if len(f) >= MIN_FUZZY_LEN)
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

    def analyse(self, text: str) -> list[Token]:
        """The question's words in order, each with the keys it may stand for."""
        return [self._lookup(word) for word in words(text)]

    def _token(self, word: str) -> Token:
        form = squash(fold(word))
        stop = form in self.stopwords
        keys = frozenset(self.stemmer.keys(word))
        if stop or form in self._surface or keys & self._keys or word.isdigit():
            return Token(word, keys, 1.0, stop)
        mended = self._decompound(form) or self._fuzzy(form)
        if mended is None:
            return Token(word, keys, 1.0, stop)
        extra, trust = mended
        return Token(word, keys | extra, trust, stop)

    def _fuzzy(self, form: str) -> tuple[frozenset[str], float] | None:
        if len(form) < MIN_FUZZY_LEN or not self._choices:
            return None
        found = process.extractOne(form, self._choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if found is None:
            return None
        return self._keys_of(found[0]), 0.6 + 0.4 * (found[1] - FUZZY_CUTOFF) / (100 - FUZZY_CUTOFF)

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
