"""The audit log: every staff, institution, association and admin action, with before and after."""
