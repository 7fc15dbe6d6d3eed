"""Quality floors on our own labelled sets (tests/data), so a knowledge or code change that breaks
retrieval or request detection fails here. The sets were written from the policy alone by engineers
who had not seen the knowledge files; floors sit below today's figures, not at them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.brain import Brain, Message

DATA = Path(__file__).resolve().parent / "data"
QUESTION_SETS = sorted(DATA.glob("heldout*_questions.jsonl"))
REQUEST_SETS = sorted(DATA.glob("heldout*_requests.jsonl"))


def load(path: Path) -> list[dict[str, object]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.mark.parametrize("path", QUESTION_SETS, ids=[p.name for p in QUESTION_SETS])
def test_question_sets(brain: Brain, path: Path) -> None:
    top1 = top3 = inside = declined = outside = 0
    for item in load(path):
        answer = brain.answer(Message(str(item["q"])))
        ids = [s.id for s in answer.sections]
        gold = set(item["gold"])  # type: ignore[call-overload]
        if item["in_scope"]:
            inside += 1
            top1 += answer.answered and bool(ids) and ids[0] in gold
            top3 += answer.answered and bool(gold & set(ids[:3]))
        else:
            outside += 1
            declined += not answer.answered
    assert top1 / inside >= 0.85, f"top1 {top1}/{inside}"
    assert top3 / inside >= 0.93, f"top3 {top3}/{inside}"
    assert declined / max(outside, 1) >= 0.85, f"declined {declined}/{outside}"


@pytest.mark.parametrize("path", REQUEST_SETS, ids=[p.name for p in REQUEST_SETS])
def test_request_sets(brain: Brain, path: Path) -> None:
    tp = fp = fn = right_kind = 0
    for item in load(path):
        got, want = brain.requests.detect(str(item["text"])).kind, item["request"]
        tp += bool(got and want)
        fp += bool(got and not want)
        fn += bool(want and not got)
        right_kind += bool(got and got == want)
    assert tp / max(tp + fp, 1) >= 0.95, f"precision: {fp} false alarms"
    assert tp / max(tp + fn, 1) >= 0.90, f"recall: {fn} missed"
    assert right_kind / max(tp, 1) >= 0.90, f"kind: {tp - right_kind} wrong"
