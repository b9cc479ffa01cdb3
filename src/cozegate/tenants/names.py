"""Tenant names cozegate gives a meaning to."""

DEFAULT_TENANT = "default"  # the tenant of a fresh gateway, and of the seed-compatible /coze/webhook
