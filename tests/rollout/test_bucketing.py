"""Deterministic, sticky bucketing: shares match the weights over 100k users, a user keeps their variant
while the weights stay, and raising a canary only moves users into it."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cozegate.rollout import Rollout, Variant, assign, bucket

USERS = [f"user-{i}" for i in range(100_000)]


def rollout(*weights: int, experiment: str = "bot-v2") -> Rollout:
    variants = [Variant(name=f"v{i}", bot_id=f"bot-{i}", weight_bps=w) for i, w in enumerate(weights)]
    return Rollout(experiment=experiment, variants=variants)


@pytest.mark.parametrize("weights", [(9000, 1000), (5000, 5000), (3333, 3333, 3334), (100, 9900), (2500, 0, 7500)])
def test_shares_over_100k_users_are_within_half_a_point_of_the_weights(weights: tuple[int, ...]) -> None:
    config = rollout(*weights)
    counts = Counter(assign(config, user).name for user in USERS)
    for i, weight in enumerate(weights):
        share = counts[f"v{i}"] / len(USERS)
        assert abs(share - weight / 10_000) <= 0.005, (weights, i, share)


def test_experiments_bucket_independently() -> None:
    same = sum(bucket("a", u) == bucket("b", u) for u in USERS[:10_000])
    assert same < 20  # about 1 in 10000 by chance


users = st.text(min_size=1, max_size=40)
weights_3 = (
    st.lists(st.integers(0, 10_000), min_size=2, max_size=2)
    .map(sorted)
    .map(lambda cuts: (cuts[0], cuts[1] - cuts[0], 10_000 - cuts[1]))
)


@given(user=users, weights=weights_3)
def test_a_user_keeps_their_variant_while_the_weights_stay(user: str, weights: tuple[int, int, int]) -> None:
    first = assign(rollout(*weights), user)
    again = assign(rollout(*weights), user)  # another replica, after a reload: an equal config
    assert first == again


@given(user=users, canary=st.integers(0, 10_000), raise_by=st.integers(0, 10_000))
def test_raising_the_canary_only_moves_users_into_it(user: str, canary: int, raise_by: int) -> None:
    raised = min(10_000, canary + raise_by)
    before = assign(rollout(10_000 - canary, canary), user).name
    after = assign(rollout(10_000 - raised, raised), user).name
    assert before == after or after == "v1"


def test_weights_must_cover_everyone_once() -> None:
    with pytest.raises(ValidationError, match="add up to 9000"):
        rollout(5000, 4000)
    with pytest.raises(ValidationError, match="unique"):
        Rollout(
            experiment="x",
            variants=[Variant(name="a", bot_id="b1", weight_bps=5000), Variant(name="a", bot_id="b2", weight_bps=5000)],
        )
