"""Text normalisation shared by the core: folding, tokens, stems and slugs."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import Stemmer as pystemmer

# Reply and forward prefixes of subjects (English, Danish, Swedish, German, Dutch, Polish...),
# repeated, with an optional counter (`Re[2]:`).
REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|sv|aw|antw|odp|vs|réf|ref|fw|fwd|wg|tr)\s*(?:\[\d+\])?\s*:\s*)+", re.I
)
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "ß": "ss", "’": "'"})
_DOUBLE = re.compile(r"(aa|oe|ae)")


def fold(text: str) -> str:
    """Lower-case ASCII spelling: `Sørg` -> `soerg`, `é` -> `e`."""
    text = text.lower().translate(_FOLD)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def squash(term: str) -> str:
    """Spelling that survives missing æ/ø/å: `oeje`/`oje` -> `oje`, `taeller`/`teller` -> `teller`."""
    return _DOUBLE.sub(lambda m: m.group(0)[1] if m.group(0) != "aa" else "a", term)


def words(text: str) -> list[str]:
    """Lower-case words (letters and digits; hyphenated and `don't` words kept whole)."""
    return [w.lower() for w in _WORD.findall(text)]


def slug(text: str) -> str:
    """`Adfærdsbetinget/målrettet reklame` -> `adfaerdsbetinget-maalrettet-reklame`."""
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")


class Stemmer:
    """Snowball stemming in English and Danish, returning folded, squashed keys."""

    def __init__(self) -> None:
        self._en: Callable[[str], str] = pystemmer.Stemmer("english").stemWord
        self._da: Callable[[str], str] = pystemmer.Stemmer("danish").stemWord
        self.key = lru_cache(maxsize=65536)(self._key)

    def _key(self, word: str, lang: str) -> str:
        stem = self._da(word) if lang == "da" else self._en(word)
        return squash(fold(stem))

    def keys(self, word: str) -> tuple[str, ...]:
        """Both languages' keys of a word (one if they agree)."""
        en, da = self.key(word, "en"), self.key(word, "da")
        return (en,) if en == da else (en, da)

    def parts(self, text: str, lang: str) -> list[str]:
        """The keys of every word of a text, in one language."""
        return [self.key(w, lang) for w in words(text)]
