"""Conversation state: external ↔ Coze conversations, transcripts, the message pipeline, reply delivery,
and (``context``) versioned contexts, profiles and dialog state machines."""
