"""Compliance: the hash-chained audit log, PII detection and masking, subject rights."""

from cozegate.compliance.audit import AuditLog
from cozegate.compliance.audit_chain import ChainReport, verify_chain

__all__ = ["AuditLog", "ChainReport", "verify_chain"]
