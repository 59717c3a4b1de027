"""What other domains call in the certificate registry (complaints resolves a scanned sticker or
a typed certificate number with ``find_instrument_ref``).

The registry's rules live in modules named by workflow: lookup.py (public lookups), registry.py
(issue, revoke, correct), imports.py (files), stickers.py (keys, signing, verification),
overdue.py (the overdue list and warnings); queries.py holds the tables and the one certificate
query.
"""

from __future__ import annotations

from api.certificates.lookup import find_instrument_ref

__all__ = ["find_instrument_ref"]
