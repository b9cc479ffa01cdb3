"""The HTTP toolkit every edge shares: bare ASGI helpers for the hot paths (refusals, body reading,
answers), the project's error body, request ids and a raw header view. No routes live here."""
