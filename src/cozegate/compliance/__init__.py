"""Compliance: audit log (hash chain, PII masking and subject rights grow here)."""

from cozegate.compliance.audit import AuditLog

__all__ = ["AuditLog"]
