"""credit domain package."""
