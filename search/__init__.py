"""search domain package."""
