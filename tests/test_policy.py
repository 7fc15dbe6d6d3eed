"""The policy parser: leaf sections, the source's traps, contacts, date and hash."""

from __future__ import annotations

from datetime import date

import pytest

from bot.errors import KnowledgeError
from bot.policy import parse_policy, strip_markdown

LEAVES = ("intro 1 2.1 2.2 2.3 3 4 5.1 5.2 5.3 5.4 6 7 8.1 8.2 8.3 8.4 8.5 8.6 8.7 9 10.1 10.2 "
          "11 12 13 14 15 16").split()  # fmt: skip


def test_leaf_sections_are_the_contract(policy_source: str) -> None:
    policy = parse_policy(policy_source)
    assert policy.ids == tuple(LEAVES)


def test_numbered_list_items_are_not_sections(policy_source: str) -> None:
    policy = parse_policy(policy_source)
    reasons = policy.section("4").plain
    assert "5. For at facilitere" in reasons and "9. For at overholde" in reasons
    assert "1. Vi indsamler oplysninger via din brug" in policy.section("3").plain
    assert "2. Individuelt identificerbare" in policy.section("2.1").plain


def test_page_break_residue_is_joined(policy_source: str) -> None:
    policy = parse_policy(policy_source)
    assert "i det omfang det er nødvendigt for at sikre" in policy.section("5.1").plain
    assert "oplysninger vedrørende tilknyttede tredjepartskonti" in policy.section("2.1").plain
    assert "sende en anmodning eller forespørgsel" in policy.section("6").plain


def test_markdown_is_stripped_but_text_is_verbatim(policy_source: str) -> None:
    policy = parse_policy(policy_source)
    six = policy.section("2.2").paragraphs[0]
    assert "[afsnit 6](#)" in six.text and "afsnit 6" in six.plain and "**" not in six.plain
    assert strip_markdown("**Bold** and [link](#x)") == "Bold and link"


def test_titles_inline_and_heading(policy_source: str) -> None:
    policy = parse_policy(policy_source)
    assert policy.section("8.1").title == "Tredjepartstjenester"
    assert policy.section("5.4").title == "Forpligtelser vedrørende datalokalisering"
    assert policy.section("10.1").parent_title == "Kommunikation fra CiemTech"
    assert policy.section("5.3").plain.startswith("Ved anmodning derom")


def test_named_paragraphs_get_finer_ids(policy_source: str) -> None:
    anchors = [p.anchor for p in parse_policy(policy_source).section("9").paragraphs if p.label]
    assert "9/cookies" in anchors and "9/clear-gifs" in anchors
    assert all(a.startswith("9/") for a in anchors)


def test_contacts_date_and_hash(policy_source: str) -> None:
    policy = parse_policy(policy_source)
    assert policy.effective_date == date(2017, 9, 23)
    assert set(policy.emails) == {"privacy@ciemtech.com", "jobs@ciemtech.com"}
    assert "https://www.datatilsynet.dk" in policy.urls
    assert "https://www.ciemtech.com/jobs" in policy.urls
    assert any("Østerbrogade 39" in a and "7100" in a for a in policy.postal_addresses)
    assert len(policy.sha256) == 64


def test_a_changed_policy_is_parsed_without_code_change(policy_source: str) -> None:
    changed = (
        policy_source.replace("23. sept 2017", "1. maj 2026")
        + "\n\n17. Nyt afsnit\n\nNy tekst her.\n"
    )
    policy = parse_policy(changed)
    assert policy.effective_date == date(2026, 5, 1)
    assert policy.ids[-1] == "17" and policy.section("17").plain == "Ny tekst her."
    assert policy.sha256 != parse_policy(policy_source).sha256


def test_empty_policy_is_a_knowledge_error() -> None:
    with pytest.raises(KnowledgeError):
        parse_policy("   \n\n")


def test_unknown_section_raises_key_error(policy_source: str) -> None:
    policy = parse_policy(policy_source)
    with pytest.raises(KeyError):
        policy.section("99")
    assert policy.section("9/cookies").id == "9"
