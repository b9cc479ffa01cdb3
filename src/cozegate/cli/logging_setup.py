"""Logging of the CLI's processes, from the settings: format, level and PII masking of every line."""

from __future__ import annotations

from cozegate.compliance.pii import MaskMode, PiiMasker
from cozegate.observability import configure_logging
from cozegate.settings import Settings


def setup_logging(settings: Settings, fmt: str | None = None) -> None:
    mask = PiiMasker(mode=MaskMode(settings.pii_mask_mode)) if settings.pii_log_masking else None
    configure_logging(settings.log_level, fmt or settings.log_format, mask=mask)
