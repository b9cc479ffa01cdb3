"""HTTP edge for people and programs: request ids, error bodies, admin API (JWT and chat proxy grow here)."""
