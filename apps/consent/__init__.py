"""Likeness and training consent: each person's choices, an append-only signed event log,
and their enforcement."""
