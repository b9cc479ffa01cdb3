"""The HTTP toolkit every edge shares: bare ASGI helpers for the hot paths (refusals, body reading,
answers), the project's error body, request ids, a raw header view, and the outbound clients' pool limits. No
routes live here."""
