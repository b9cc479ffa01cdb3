"""How many assignments each variant got (this process; Prometheus sums replicas)."""

from __future__ import annotations

from collections import Counter

from cozegate.observability import metrics


class Exposures:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def count(self, tenant: str, experiment: str, variant: str) -> None:
        self._counts[(tenant, experiment, variant)] += 1
        metrics.ROLLOUT_EXPOSURES.labels(tenant, experiment, variant).inc()

    def of(self, tenant: str, experiment: str, variant: str) -> int:
        return self._counts[(tenant, experiment, variant)]
