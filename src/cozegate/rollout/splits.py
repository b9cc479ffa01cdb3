"""Every tenant's rollout as operators read it: variants, weights and the exposures each got in this
process (the admin API and the console show the same)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cozegate.rollout.exposures import Exposures
from cozegate.rollout.model import TOTAL_BPS, Rollout


@dataclass(frozen=True)
class VariantSplit:
    name: str
    bot_id: str
    weight_bps: int
    exposures: int

    @property
    def percent(self) -> str:
        return f"{self.weight_bps * 100 / TOTAL_BPS:g} %"


@dataclass(frozen=True)
class RolloutSplit:
    tenant: str
    experiment: str
    variants: list[VariantSplit]


def rollout_splits(rollouts: Mapping[str, Rollout], exposures: Exposures) -> list[RolloutSplit]:
    """``rollouts`` by tenant (``TenantRegistry.rollouts()``), in tenant order."""
    return [
        RolloutSplit(
            tenant,
            rollout.experiment,
            [
                VariantSplit(v.name, v.bot_id, v.weight_bps, exposures.of(tenant, rollout.experiment, v.name))
                for v in rollout.variants
            ],
        )
        for tenant, rollout in sorted(rollouts.items())
    ]
