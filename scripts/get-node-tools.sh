#!/usr/bin/env bash
# npm packages pinned with their sha512 in package-lock.json: axe-core, which the browser tests
# load from node_modules, and jsqr, whose dist/jsQR.js is committed under static/vendor/jsqr/
# (the test of that copy compares it with node_modules). `npm ci` installs exactly the lock file
# into node_modules/. Skipped when node_modules already matches the lock file, so the script is
# cheap on every `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null || {
  echo "get-node-tools: npm is needed (apt-get install npm)" >&2
  exit 1
}
# npm writes node_modules/.package-lock.json from the lock file it installed; when the two agree
# on every package, the install is current.
if [ -f node_modules/.package-lock.json ] && node -e '
  const want = require("./package-lock.json").packages, have = require("./node_modules/.package-lock.json").packages;
  const names = Object.keys(want).filter((name) => name !== "");
  process.exit(names.every((name) => have[name] && have[name].version === want[name].version && have[name].integrity === want[name].integrity) ? 0 : 1);
'; then
  exit 0
fi
echo "get-node-tools: npm ci"
npm ci --no-audit --no-fund --silent
