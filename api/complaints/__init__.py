"""Complaint (投诉) and report (举报) intake for mobile apps, the portal and Open311 clients."""
