"""Okapi BM25 over a small fixed set of documents, with per-term scores precomputed."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


class BM25:
    """Each term maps to {document index: BM25 weight}; scoring a query is dictionary sums."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.size = len(docs)
        lengths = [len(d) for d in docs]
        average = sum(lengths) / max(self.size, 1) or 1.0
        postings: dict[str, dict[int, int]] = {}
        for index, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                postings.setdefault(term, {})[index] = tf
        self.weights: dict[str, dict[int, float]] = {}
        self.idf: dict[str, float] = {}
        for term, docs_tf in postings.items():
            df = len(docs_tf)
            idf = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
            self.idf[term] = idf
            self.weights[term] = {
                i: idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / average))
                for i, tf in docs_tf.items()
            }

    def __contains__(self, term: str) -> bool:
        return term in self.weights

    def term(self, term: str) -> dict[int, float]:
        """Weights of one term by document (empty when no document has it)."""
        return self.weights.get(term, {})
