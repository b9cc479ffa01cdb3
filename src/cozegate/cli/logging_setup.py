"""Logging of the CLI's processes, from the settings: format, level and PII masking of every line."""

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


def setup_logging(settings: Settings, fmt: str | None = None, mask: Masker | None = None) -> None:
    configure_logging(settings.log_level, fmt or settings.log_format, mask=mask or log_masker(settings))
