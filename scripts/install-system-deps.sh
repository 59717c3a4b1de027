#!/usr/bin/env bash
# Debian packages the project needs beyond Python: Chromium for the browser tests, zbar for the
# QR decoder the sticker tests use, wrk for the benchmarks, pg_dump/pg_restore (postgresql-client)
# for `gongzhi backup` and `gongzhi restore` on PostgreSQL, nginx for the scaled-out deployment
# (deploy/scaleout.py, its test and bench/load.py). Installed only when missing, so the
# script is cheap on a machine that already has them.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
ldconfig -p | grep -q 'libzbar.so.0' || need+=(libzbar0)
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v pg_restore >/dev/null || need+=(postgresql-client)
fc-list 2>/dev/null | grep -qi 'noto.*cjk\|wqy' || need+=(fonts-noto-cjk)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${need[*]}; run as root: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
