"""api domain package."""
