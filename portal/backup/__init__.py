"""Backup and restore of a whole deployment: the database (a consistent snapshot: SQLite's backup
API, or ``pg_dump`` of one exported snapshot) and every file the domains keep in their stores (the
complaint photos), each with its SHA-256, described by one manifest. ``service.create_backup``
writes a backup directory, ``restore.restore_backup`` restores one into an empty deployment;
``gongzhi backup DIR`` and ``gongzhi restore DIR`` call them (README, "Backup and restore").

A backup directory::

    manifest.json      what follows, with sizes and SHA-256 (written last: no manifest, no backup)
    database.sqlite3   or database.pgdump (pg_dump's custom format)
    files.jsonl        one line per stored file: {"store", "key", "size", "sha256"}
    files/<store>/<key>

Secrets are not in it: the signing key file and GONGZHI_SECRET_KEY / GONGZHI_DATA_KEYS are kept
apart and put in place on the new deployment before the restore, which checks the signing key.
"""
