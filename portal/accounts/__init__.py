"""Accounts, organisations, roles and the permission rules (fastapi-users underneath)."""
