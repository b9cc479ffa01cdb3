"""Typed process settings, read from ``COZEGATE_*`` environment variables and ``.env``."""

from cozegate.settings.model import Settings

__all__ = ["Settings"]
