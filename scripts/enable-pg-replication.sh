#!/usr/bin/env bash
# Lets the local PostgreSQL (127.0.0.1:5432, trust auth) serve streaming replication, which the
# read-replica tests (tests/api/certificates/test_replica.py) need: pg_basebackup and a standby
# connect with the "replication" pseudo-database, which "host all ..." does not match.
# Idempotent; needs root or the postgres user. wal_level=replica and max_wal_senders=10 are
# Debian's defaults already. Without a reachable server it does nothing (the tests then skip, or
# fail under GONGZHI_REQUIRE_SERVICES=1, which is where CI's .ci/run starts the server first).
set -euo pipefail
line='host replication all 127.0.0.1/32 trust'
if ! command -v psql >/dev/null || ! hba=$(psql -h 127.0.0.1 -U postgres -Atc 'show hba_file' 2>/dev/null); then
    echo "enable-pg-replication: no PostgreSQL at 127.0.0.1:5432; nothing changed"
    exit 0
fi
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    # First, not appended: the first matching line decides, and Debian's own file already has a
    # "host replication all 127.0.0.1/32 scram-sha-256" line further down.
    sed -i "1i $line" "$hba"
    psql -h 127.0.0.1 -U postgres -Atc 'select pg_reload_conf()' >/dev/null
    echo "enable-pg-replication: $line (in $hba)"
fi
