"""The degeneracy penalties: bounds, and each moves the way its definition says."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from congruence.evaluation import degeneracy as dg

text = st.text(alphabet=st.characters(codec="ascii"), max_size=200)


@given(text, text, st.integers(0, 400), st.integers(0, 5), st.one_of(st.none(), st.floats(-1, 1)))
def test_every_penalty_and_the_factor_lie_in_the_unit_interval(r, c, n, d, sim) -> None:
    p = dg.degeneracy(r, c, n_words=n, directive=d, similarity=sim, baseline=(0.1, 0.1))
    assert 0.0 <= p.factor <= 1.0
    for name in p.__dataclass_fields__:
        v = getattr(p, name)
        assert v is None or 0.0 <= v <= 1.0


@given(st.lists(st.sampled_from(["what", "is", "it", "like", "for", "you", "now"]), min_size=3, max_size=12))
def test_repeating_a_reply_never_lowers_its_repetition_penalty(tokens: list[str]) -> None:
    assert dg.repetition_penalty(tokens * 3) >= dg.repetition_penalty(tokens)
    assert dg.repetition_share(tokens * 3) > 0.5


@given(st.floats(-1, 1), st.floats(-1, 1))
def test_more_similar_replies_are_less_off_topic(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert dg.off_topic_penalty(hi, 0.1, 0.1) <= dg.off_topic_penalty(lo, 0.1, 0.1)


def test_examples_of_each_kind() -> None:
    client = "I feel so alone since my mother died."
    care = dg.degeneracy(
        "It sounds like the house feels empty without her. What is that like?",
        client, n_words=14, directive=0, similarity=0.6, baseline=(0.1, 0.1),
    )  # fmt: skip
    assert care.factor == 1.0 and care.reasons == ""
    echo = dg.degeneracy(
        "[Response] I feel so alone since my mother died.",
        client, n_words=9, directive=0, similarity=0.95, baseline=(0.1, 0.1),
    )  # fmt: skip
    assert echo.reasons == "echo;scaffold" and echo.factor == 0.0
    notes = dg.degeneracy(
        "The patient is grieving.", client, n_words=4, directive=0, similarity=0.5, baseline=(0.1, 0.1)
    )
    assert notes.reasons == "role_talk"
    # the lexical similarity halves the off-topic penalty
    off = dg.degeneracy(
        "It rained.",
        client,
        n_words=2,
        directive=0,
        similarity=0.0,
        baseline=(0.1, 0.1),
        off_topic_weight=0.5,
    )
    assert off.off_topic == 0.5
