#!/usr/bin/env bash
# Lets the local PostgreSQL (127.0.0.1:5432, trust auth) serve streaming replication, which the
# read-replica tests (tests/api/certificates/test_replica.py) need: pg_basebackup and a standby
# connect with the "replication" pseudo-database, which "host all ..." does not match.
# Idempotent; needs root or the postgres user. wal_level=replica and max_wal_senders=10 are
# Debian's defaults already.
set -euo pipefail
hba=$(psql -h 127.0.0.1 -U postgres -Atc 'show hba_file')
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32' "$hba"; then
    echo 'host replication all 127.0.0.1/32 trust' >>"$hba"
    psql -h 127.0.0.1 -U postgres -Atc 'select pg_reload_conf()' >/dev/null
fi
