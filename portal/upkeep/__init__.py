"""The database's own upkeep, for every domain at once: the query planner's statistics."""
