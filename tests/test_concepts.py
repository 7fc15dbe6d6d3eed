"""The lexicon's term syntax: phrases, `a + b` co-occurrence, `(x|y)` alternatives, stopwords."""

from __future__ import annotations

from bot.concepts import ConceptMatcher, expand, slots
from bot.knowledge import Concept
from bot.text import Stemmer
from bot.vocabulary import Vocabulary

STEM = Stemmer()


def concept(name: str, *terms: str) -> Concept:
    return Concept(name, terms, (), {"9": 1.0}, 1.0)


def found(matcher: ConceptMatcher, text: str) -> set[str]:
    vocabulary = Vocabulary(STEM, {"any": [text]}, frozenset({"my", "the", "i", "a", "on"}))
    return {m.concept.name for m in matcher.match(vocabulary.analyse(text))}


def test_multi_word_groups_are_spelled_out_and_one_word_groups_kept() -> None:
    assert expand("(site|shop) + (runs on|made with) (CiemTech|you)") == [
        "(site|shop) + runs on (CiemTech|you)",
        "(site|shop) + made with (CiemTech|you)",
    ]
    assert slots("(site|shop) built", STEM) == (
        frozenset({"site", "sit", "shop"}),
        frozenset({"built"}),
    )


def test_a_plain_token_of_several_words_gives_several_slots() -> None:
    assert len(slots("privacy@ciemtech.com", STEM)) == 3


def test_phrases_match_in_order_with_small_gaps() -> None:
    matcher = ConceptMatcher([concept("erase", "delete my data")], STEM)
    assert found(matcher, "please delete all my data") == {"erase"}
    assert found(matcher, "my data, delete it") == set()


def test_plus_terms_match_anywhere_in_the_text() -> None:
    matcher = ConceptMatcher([concept("consent", "consent + (withdrawn|revoked)")], STEM)
    assert found(matcher, "Revoked: my consent, as of today") == {"consent"}
    assert found(matcher, "I gave consent") == set()


def test_alternatives_and_inflections() -> None:
    matcher = ConceptMatcher(
        [concept("visitor", "(shop|store) + (runs on|built with) (CiemTech|you)")], STEM
    )
    assert found(matcher, "the store I bought from is built with CiemTech") == {"visitor"}
    assert found(matcher, "my shop runs on Shopify") == set()


def test_a_phrase_of_stopwords_alone_never_matches() -> None:
    matcher = ConceptMatcher([concept("noise", "on my")], STEM, stopwords=frozenset({"on", "my"}))
    assert found(matcher, "on my way") == set()


def test_a_privacy_address_is_not_the_company_name() -> None:
    matcher = ConceptMatcher([concept("dpo", "privacy@ciemtech.com")], STEM)
    assert found(matcher, "does ciemtech support multi-language sites") == set()
    assert found(matcher, "write to privacy@ciemtech.com") == {"dpo"}
