"""Conversation state: external ↔ Coze conversations, transcripts, the message pipeline, reply delivery."""
