"""Knowledge gaps: which answers count, background recording, grouping, `privacybot gaps`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.gaps import GapRecorder, cluster, is_gap
from bot.store import Gap, open_store

PRIVACYBOT = Path(sys.executable).with_name("privacybot")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class Scored:
    answered: bool
    confidence: float


def gap(text: str, minutes: int = 0, lang: str = "en") -> Gap:
    return Gap(0, text, lang, 0.1, NOW + timedelta(minutes=minutes))


def test_declined_or_unsure_answers_are_gaps() -> None:
    assert is_gap(Scored(False, 0.9))
    assert is_gap(Scored(True, 0.49))
    assert not is_gap(Scored(True, 0.5))


def test_similar_questions_are_grouped_most_frequent_first() -> None:
    gaps = [
        gap("Do you sell laptops?", 0),
        gap("What is the weather in Vejle?", 1),
        gap("what is the weather like in vejle today", 2),
        gap("Hvad koster en pizza?", 3, "da"),
        gap("Weather in Vejle tomorrow?", 4),
        gap("hvad koster pizza", 5, "da"),
        gap("Is my data used to train AI models?", 6),
        gap("Do you train AI on my data?", 7),
    ]
    groups = cluster(gaps)
    assert [(g.count, g.text) for g in groups] == [
        (3, "What is the weather in Vejle?"),
        (2, "Is my data used to train AI models?"),
        (2, "Hvad koster en pizza?"),
        (1, "Do you sell laptops?"),
    ]
    weather = groups[0]
    assert weather.examples() == ["Weather in Vejle tomorrow?", "what is the weather like in vejle today"]  # fmt: skip
    assert weather.last_seen == NOW + timedelta(minutes=4)
    assert groups[2].langs == ["da"]
    assert cluster([]) == []


def test_identical_questions_count_once_each_in_one_group() -> None:
    groups = cluster([gap("Can I pay with bitcoin?", i) for i in range(5)] + [gap("?!", 9)])
    assert [(g.count, g.text) for g in groups] == [(5, "Can I pay with bitcoin?"), (1, "?!")]
    assert groups[0].examples() == []


async def test_recorder_masks_and_stores_in_the_background(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "g.sqlite3")
    await store.migrate()
    outcomes: list[str] = []
    recorder = GapRecorder(store, on_outcome=outcomes.append, clock=lambda: NOW)
    try:
        recorder.record("Can  jane@corp.co\nring 12345678 about pizza?", "en", 0.2)
        recorder.record("Hvad koster en pizza?", "da", 0.0)
        assert outcomes == []  # nothing waited for the database
        await recorder.aclose()
        gaps = await store.list_gaps(NOW - timedelta(days=1))
    finally:
        await store.close()
    assert [(g.text, g.lang, g.score, g.at) for g in gaps] == [
        ("Can j***@corp.co ring [number] about pizza?", "en", 0.2, NOW),
        ("Hvad koster en pizza?", "da", 0.0, NOW),
    ]
    assert outcomes == ["stored", "stored"]


async def test_recorder_drops_when_its_queue_is_full_and_survives_a_dead_store(
    tmp_path: Path,
) -> None:
    store = open_store(None, tmp_path / "g.sqlite3")
    await store.migrate()
    outcomes: list[str] = []
    recorder = GapRecorder(store, max_pending=2, on_outcome=outcomes.append)
    for i in range(5):
        recorder.record(f"question {i}", "en", 0.1)
    await recorder.aclose()
    assert sorted(outcomes) == ["dropped"] * 3 + ["stored"] * 2
    await store.close()
    recorder.record("after the store closed", "en", 0.1)  # logged, counted, never raised
    await recorder.aclose()
    assert outcomes[-1] == "failed"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [str(PRIVACYBOT), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    async def fill() -> None:
        store = open_store(None, tmp_path / "var" / "privacybot.sqlite3")
        await store.migrate()
        now = datetime.now(UTC)
        rows = [
            ("What is the weather in Vejle?", 60),
            ("what is the weather like in vejle today", 50),
            ("Weather in Vejle tomorrow?", 40),
            ("Do you sell laptops?", 30),
            ("Can I pay with bitcoin?", 60 * 24 * 20),  # 20 days ago
        ]
        for text, minutes_ago in rows:
            await store.add_gap(text=text, lang="en", score=0.1, at=now - timedelta(minutes=minutes_ago))  # fmt: skip
        await store.close()

    asyncio.run(fill())
    return tmp_path


def test_gaps_command_lists_groups_with_counts(populated: Path) -> None:
    week = run_cli(populated, "gaps", "--days", "7")
    month = run_cli(populated, "gaps")
    assert week.returncode == 0, week.stderr
    lines = week.stdout.splitlines()
    assert lines[0].startswith(
        "4 declined or low-confidence questions in the last 7 days, 2 groups"
    )
    assert lines[1].split()[:6] == ["3", "What", "is", "the", "weather", "in"]
    assert lines[2].strip() == "~ Weather in Vejle tomorrow?"
    assert "    1  Do you sell laptops?" in week.stdout
    assert "bitcoin" not in week.stdout and "bitcoin" in month.stdout


def test_gaps_command_json_and_empty(populated: Path, tmp_path: Path) -> None:
    out = run_cli(populated, "gaps", "--json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["count"], r["text"]) for r in rows] == [
        (3, "What is the weather in Vejle?"), (1, "Do you sell laptops?"), (1, "Can I pay with bitcoin?")
    ]  # fmt: skip
    assert rows[0]["langs"] == ["en"] and len(rows[0]["examples"]) == 2
    empty = run_cli(tmp_path / "var", "gaps")
    assert empty.returncode == 0 and "no knowledge gaps in the last 30 days" in empty.stdout
    bad = run_cli(populated, "gaps", "--days", "0")
    assert bad.returncode == 2 and bad.stderr.strip() == "privacybot: --days must be at least 1"
