"""Transactional outbox: background work written in the same transaction as the change."""
