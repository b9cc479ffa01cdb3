"""A tenant's rollout: which bot versions share its users, in basis points (10000 = everyone)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

TOTAL_BPS = 10_000


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    bot_id: str = Field(min_length=1, description="The Coze bot (or bot version) this variant's users talk to.")
    weight_bps: int = Field(ge=0, le=TOTAL_BPS, description="Share of users in basis points (100 = 1 %).")


class Rollout(BaseModel):
    """Gray release or A/B test. Variants own consecutive ranges of buckets in the declared order: with
    two variants, raising the canary (the last) only moves users from the first into it; with more,
    changing a weight shifts the ranges of the variants after it, so their users can move too."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    variants: list[Variant] = Field(min_length=1, max_length=16)

    @model_validator(mode="after")
    def _weights_cover_everyone(self) -> Rollout:
        total = sum(v.weight_bps for v in self.variants)
        if total != TOTAL_BPS:
            raise ValueError(f"rollout {self.experiment}: weights add up to {total} bps, they must add up to 10000")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"rollout {self.experiment}: variant names must be unique")
        return self
