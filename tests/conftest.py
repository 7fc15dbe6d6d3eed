"""Shared fixtures: the core built once from knowledge/, and paths to the shared eval data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.brain import Brain
from bot.knowledge import Knowledge, default_dir, load_knowledge

# Fixtures of the real servers the tests start, shared by every test module.
pytest_plugins = ("tests.pg", "tests.smtp", "tests.stores", "tests.emailrig")

ROOT = Path(__file__).resolve().parents[1]
SHARED_EVAL = ROOT.parent / "shared" / "eval"


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge(default_dir())


@pytest.fixture(scope="session")
def brain(knowledge: Knowledge) -> Brain:
    return Brain(knowledge)


@pytest.fixture(scope="session")
def policy_source() -> str:
    return (default_dir() / "policy.da.md").read_text(encoding="utf-8")
