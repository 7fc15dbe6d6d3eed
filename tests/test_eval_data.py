"""Under CI the shared eval data must be there: the corpus tests skip without it, CI must not."""

from __future__ import annotations

import os

import pytest

from tests.conftest import SHARED_EVAL


def test_the_shared_eval_data_is_present_under_ci() -> None:
    if not (os.environ.get("CI") or os.environ.get("PRIVACYBOT_REQUIRE_SERVICES")):
        pytest.skip("only required under CI (CI or PRIVACYBOT_REQUIRE_SERVICES set)")
    for name in ("emails/expected.jsonl", "dev_questions.jsonl", "dev_requests.jsonl"):
        assert (SHARED_EVAL / name).is_file(), (
            f"{SHARED_EVAL / name} is missing: the corpus tests would skip"
        )
