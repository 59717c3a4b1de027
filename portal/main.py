"""ASGI entry point for uvicorn: ``portal.main:app``."""

from portal.app import create_app

# A serving process: its start-up objects are frozen once warmed up (portal/heap.py).
app = create_app(settle_heap=True)
