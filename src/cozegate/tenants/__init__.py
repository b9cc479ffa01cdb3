"""Per-tenant configuration: typed models, the registry the rest of cozegate reads, and its live handle."""

from typing import TYPE_CHECKING

from cozegate.imports import lazy_exports
from cozegate.tenants.names import DEFAULT_TENANT

if TYPE_CHECKING:
    from cozegate.tenants.live import LiveTenants
    from cozegate.tenants.model import DedupKeySource, SecretRef, TenantConfig
    from cozegate.tenants.registry import (
        TenantBot,
        TenantIngress,
        TenantRegistry,
        ensure_tenants_file,
        new_standard_secret,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LiveTenants": "live",
        "DedupKeySource": "model",
        "SecretRef": "model",
        "TenantConfig": "model",
        "TenantBot": "registry",
        "TenantIngress": "registry",
        "TenantRegistry": "registry",
        "ensure_tenants_file": "registry",
        "new_standard_secret": "registry",
    },
)

__all__ = [
    "DEFAULT_TENANT",
    "DedupKeySource",
    "LiveTenants",
    "SecretRef",
    "TenantBot",
    "TenantConfig",
    "TenantIngress",
    "TenantRegistry",
    "ensure_tenants_file",
    "new_standard_secret",
]
