"""Inbound webhooks: the bare ASGI endpoint that verifies, parses, stores durably and acknowledges."""
