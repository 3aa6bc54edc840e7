"""Prompt policy (protected names and marks); later reports, cases, actions, audit log."""
