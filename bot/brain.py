"""The pure core behind every door: a Message in, an Answer out, built once from knowledge/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.answer import Answer, Composer
from bot.knowledge import Knowledge, load_knowledge
from bot.language import LanguageDetector
from bot.requests import RequestDetector, request_phrases
from bot.retrieval import Retriever
from bot.text import Stemmer


@dataclass(frozen=True)
class Message:
    """A question or request as any door hands it to the core."""

    text: str
    lang: str | None = None  # forced reply language; detected when None
    channel: str = "cli"
    sender: str | None = None


class Brain:
    """Language detection, retrieval and answer composition over one Knowledge."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        stemmer = Stemmer()
        corpora = _corpora(knowledge)
        phrases = request_phrases(knowledge.requests)
        self.detector = LanguageDetector(corpora, knowledge.stopwords)
        self.retriever = Retriever(
            knowledge, stemmer, {"da": [corpora["da"]], "en": [corpora["en"]], "any": phrases}
        )
        self.requests = RequestDetector(knowledge.requests, self.retriever.vocabulary, stemmer)
        self.composer = Composer(knowledge, stemmer)

    @classmethod
    def from_folder(cls, folder: Path | None = None) -> Brain:
        return cls(load_knowledge(folder))

    def detect_language(self, text: str, default: str = "en") -> str:
        return self.detector.detect(text, default)

    def answer(self, message: Message) -> Answer:
        text = " ".join(message.text.split())
        lang = message.lang or self.detect_language(text)
        ranking = self.retriever.rank(text, lang)
        request = self.requests.detect(text).kind
        return self.composer.compose(text, lang, ranking, request)


def _corpora(knowledge: Knowledge) -> dict[str, str]:
    infos = knowledge.sections.values()
    danish = [s.plain for s in knowledge.policy.sections]
    danish += [t for i in infos for t in (i.answer_da, *i.questions_da)]
    danish += [t for c in knowledge.concepts for t in c.da]
    english = [t for i in infos for t in (i.title_en, i.answer_en, *i.questions_en)]
    english += [t for c in knowledge.concepts for t in c.en]
    english += [" ".join(sorted(knowledge.stopwords.get("en", ())))]
    return {"da": "\n".join(danish), "en": "\n".join(english)}
