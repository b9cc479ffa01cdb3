"""Deterministic, sticky assignment: a stable hash of (experiment, user) picks one of 10000 buckets."""

from __future__ import annotations

import hashlib

from cozegate.rollout.model import TOTAL_BPS, Rollout, Variant


def bucket(experiment: str, user_id: str) -> int:
    """0..9999, the same for the same pair on every replica and after every restart."""
    digest = hashlib.sha256(f"{experiment}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % TOTAL_BPS


def assign(rollout: Rollout, user_id: str) -> Variant:
    """The variant whose range of buckets holds the user's bucket (ranges follow the declared order)."""
    position = bucket(rollout.experiment, user_id)
    upper = 0
    for variant in rollout.variants:
        upper += variant.weight_bps
        if position < upper:
            return variant
    raise AssertionError("weights add up to 10000, so every bucket has a variant")
