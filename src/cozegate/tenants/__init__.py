"""Per-tenant configuration: typed models and the registry the rest of cozegate reads."""

from cozegate.tenants.model import DEFAULT_TENANT, DedupKeySource, SecretRef, TenantConfig
from cozegate.tenants.registry import TenantBot, TenantIngress, TenantRegistry, ensure_tenants_file, new_standard_secret

__all__ = [
    "DEFAULT_TENANT",
    "DedupKeySource",
    "SecretRef",
    "TenantBot",
    "TenantConfig",
    "TenantIngress",
    "TenantRegistry",
    "ensure_tenants_file",
    "new_standard_secret",
]
