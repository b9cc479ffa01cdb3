"""Logging of cozegate's processes with personal data masked in every line (and error report)."""

from __future__ import annotations

import os

from cozegate.compliance.pii import MaskMode, PiiMasker
from cozegate.observability import configure_logging
from cozegate.observability.logging import Masker
from cozegate.settings import Settings


def log_masker(settings: Settings) -> Masker | None:
    """What rewrites every log line (and error report): the PII masker, unless masking is switched off."""
    if not settings.pii_log_masking:
        return None
    # hash mode: keyed, so a pseudonym in a log cannot be reversed by hashing every phone number
    key = settings.resolved_pseudonym_key()
    salt = key.get_secret_value().encode() if key is not None else os.urandom(16)
    return PiiMasker(mode=MaskMode(settings.pii_mask_mode), salt=salt)


def masked_logging(settings: Settings, fmt: str | None = None) -> Masker | None:
    """Configure the root logger from the settings (format, level, masking); returns the masker in use."""
    mask = log_masker(settings)
    configure_logging(settings.log_level, fmt or settings.log_format, mask=mask)
    return mask
