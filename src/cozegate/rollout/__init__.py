"""Gray release and A/B routing of bot versions per tenant: deterministic, sticky, weights in basis points."""

from cozegate.rollout.bucketing import assign, bucket
from cozegate.rollout.exposures import Exposures
from cozegate.rollout.model import TOTAL_BPS, Rollout, Variant

__all__ = ["TOTAL_BPS", "Exposures", "Rollout", "Variant", "assign", "bucket"]
