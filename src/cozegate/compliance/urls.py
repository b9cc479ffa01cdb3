"""URLs as they may be shown (pages, logs, titles, error messages): never their userinfo, query string or
fragment, which may carry credentials or tokens; optionally not their path either (incoming-webhook URLs
carry their secret in the path), shown then as a short fingerprint that tells two URLs apart."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit


def display_url(url: str, *, hide_path: bool = False) -> str:
    """``scheme://host[:port]/path``, or with ``hide_path`` ``scheme://host[:port]/…#<8 hex>`` (nothing
    after the host when the path is empty or ``/``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.netloc.rpartition("@")[2]
    path = parts.path
    if hide_path:
        path = f"/…#{hashlib.sha256(path.encode()).hexdigest()[:8]}" if path not in ("", "/") else ""
    return f"{parts.scheme}://{host}{path}" if parts.scheme else f"{host}{path}"
