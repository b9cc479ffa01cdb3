"""Conversations with a tenant's bot: the one recipe for talking to it (``bot_conversation``, used by the
webhook pipeline and the chat proxy), the ``message_create`` pipeline, reply delivery, what handlers may
ask for (``handler_kit``), external ↔ Coze conversations and transcripts, and (``context``) versioned
contexts, profiles and dialog state machines."""
