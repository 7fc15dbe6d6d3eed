"""Knowledge gaps: questions the bot declined or was unsure of, kept masked and grouped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

from rapidfuzz import fuzz, process, utils

from bot.logs import mask_text
from bot.store import Gap, Store

LOW_CONFIDENCE: Final = 0.5
SIMILAR: Final = 75.0  # token_set_ratio at or above which two questions are the same gap
MAX_TEXT: Final = 1000  # characters of a question kept
log = logging.getLogger(__name__)


class Scored(Protocol):
    """What decides whether an answer is a gap (bot.answer.Answer has both)."""

    @property
    def answered(self) -> bool: ...

    @property
    def confidence(self) -> float: ...


def is_gap(answer: Scored) -> bool:
    """True when the bot declined the question or answered it with low confidence."""
    return not answer.answered or answer.confidence < LOW_CONFIDENCE


def gap_text(text: str) -> str:
    """`text` as a gap keeps it: on one line, addresses and long numbers masked, cut short."""
    return mask_text(" ".join(text.split()))[:MAX_TEXT]


async def keep_gap(store: Store, text: str, lang: str, score: float) -> str:
    """Store one gap now (masked): "stored", or "failed" (logged, never raised)."""
    try:
        await store.add_gap(
            text=gap_text(text), lang=lang, score=float(score), at=datetime.now(UTC)
        )
    except Exception:  # a gap is only a hint for the team: the answer stands
        log.exception("could not store a knowledge gap")
        return "failed"
    return "stored"


class GapRecorder:
    """Stores gaps in the background, one at a time, without ever delaying an answer.

    `record()` never blocks and never raises; when the queue is full the gap is dropped and
    counted. `aclose()` stores what is queued (within `timeout`) and stops the writer.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_pending: int = 1000,
        on_outcome: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.clock = clock
        self._on_outcome = on_outcome or (lambda outcome: None)
        self._queue: asyncio.Queue[tuple[str, str, float, datetime]] = asyncio.Queue(max_pending)
        self._writer: asyncio.Task[None] | None = None

    def record(self, text: str, lang: str, score: float) -> None:
        """Queue a gap (masked here); must be called from the event loop's thread."""
        item = (gap_text(text), lang, float(score), self.clock())
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._on_outcome("dropped")
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while not self._queue.empty():
            text, lang, score, at = self._queue.get_nowait()
            try:
                await self.store.add_gap(text=text, lang=lang, score=score, at=at)
                self._on_outcome("stored")
            except Exception:
                log.exception("could not store a knowledge gap")
                self._on_outcome("failed")
            finally:
                self._queue.task_done()

    async def aclose(self, timeout: float = 10.0) -> None:
        """Wait until every queued gap is stored (or `timeout` passes), then stop."""
        writer = self._writer
        if writer is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer), timeout)
        if not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer


@dataclass
class Cluster:
    """Similar gap questions: the first one seen stands for the group."""

    text: str
    gaps: list[Gap] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.gaps)

    @property
    def last_seen(self) -> datetime:
        return max(g.at for g in self.gaps)

    @property
    def langs(self) -> list[str]:
        return sorted({g.lang for g in self.gaps})

    def examples(self, limit: int = 3) -> list[str]:
        """Other wordings in this group (distinct, most recent first), not the headline."""
        seen = {self.text.casefold()}
        out: list[str] = []
        for g in sorted(self.gaps, key=lambda g: g.at, reverse=True):
            if g.text.casefold() not in seen and len(out) < limit:
                seen.add(g.text.casefold())
                out.append(g.text)
        return out


def cluster(gaps: Iterable[Gap], threshold: float = SIMILAR) -> list[Cluster]:
    """Group gaps whose texts are alike (rapidfuzz token_set_ratio), most frequent first."""
    clusters: list[Cluster] = []
    keys: list[str] = []
    for gap in gaps:
        key = utils.default_process(gap.text)
        best = None
        if key and keys:
            best = process.extractOne(
                key, keys, scorer=fuzz.token_set_ratio, processor=None, score_cutoff=threshold
            )
        if best is None:
            clusters.append(Cluster(gap.text, [gap]))
            keys.append(key)
        else:
            clusters[best[2]].gaps.append(gap)
    clusters.sort(key=lambda c: (-c.count, -c.last_seen.timestamp()))
    return clusters
