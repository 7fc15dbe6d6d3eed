"""A bounded LRU of rendered answers: the core is deterministic for the life of the process."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from bot.brain import Brain, Message
from bot.web.responses import dumps

SIZE: Final = 2048  # entries of a few kB each


@dataclass(frozen=True, slots=True)
class Rendered:
    """An answer as /ask sends it, with what the metrics and the gap log need."""

    body: bytes
    question: str
    lang: str
    answered: bool
    confidence: float


class AnswerCache:
    """Answers by (question with its whitespace collapsed, forced language).

    The knowledge is loaded once per process, so the same question always gets the same
    answer; a repeated question (a Slack thread, a campaign of identical emails, a retrying
    client) skips the core and the JSON encoding. Kept in memory only, never logged.
    """

    def __init__(self, brain: Brain, size: int = SIZE) -> None:
        self.brain = brain
        self.size = size
        self._entries: OrderedDict[tuple[str, str | None], Rendered] = OrderedDict()

    def answer(
        self, question: str, lang: str | None, channel: str = "web"
    ) -> tuple[Rendered, bool]:
        """The rendered answer to `question`, and whether it came from the cache."""
        key = (" ".join(question.split()), lang)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found, True
        answer = self.brain.answer(Message(question, lang=lang, channel=channel))
        body = dumps(answer.to_json()).encode("utf-8")
        found = Rendered(body, answer.question, answer.lang, answer.answered, answer.confidence)
        if self.size > 0:
            self._entries[key] = found
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return found, False

    def __len__(self) -> int:
        return len(self._entries)
