#!/usr/bin/env bash
# Installs the pinned Codex CLI versions that the end-to-end tests drive, each into
# .tools/codex-<version> (ignored by git), and points .tools/codex at the oldest.
# Idempotent: a version already installed is left as it is.
#
# The pins: the oldest supported Codex and the newest @openai/codex on npm. The tests
# run against the oldest unless CODEX_E2E_VERSION names another (scripts/test.sh runs the
# end-to-end tests once more against the newest).
#   CODEX_VERSIONS="0.169.0 0.170.0"   these versions instead (space separated, oldest first)
#   CODEX_VERSION=0.170.0              just this one
#   --print                            print the versions it would install and exit
set -euo pipefail
PINNED="0.169.0 0.171.0"
VERSIONS="${CODEX_VERSIONS:-${CODEX_VERSION:-$PINNED}}"
if [ "${1:-}" = "--print" ]; then
  echo $VERSIONS
  exit 0
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

install_one() {
  local version="$1" dir="$tools/codex-$1" installed
  installed="$(node -p "require('$dir/node_modules/@openai/codex/package.json').version" 2>/dev/null || true)"
  if [ "$installed" = "$version" ]; then
    echo "codex $version already installed in $dir"
    return 0
  fi
  command -v npm >/dev/null || { echo "install-codex: npm is required (Node.js 18+)" >&2; exit 1; }
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"private":true}' > "$dir/package.json"
  echo "installing @openai/codex@$version into $dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@openai/codex@$version"
  "$dir/node_modules/.bin/codex" --version
}

for version in $VERSIONS; do
  install_one "$version"
done

# .tools/codex: the oldest pinned version, where a single install used to go. An old
# real directory there (from before the per-version layout) is replaced by the link.
oldest="${PINNED%% *}"
if [ -d "$tools/codex-$oldest" ] && [ "$(readlink "$tools/codex" 2>/dev/null)" != "codex-$oldest" ]; then
  rm -rf "$tools/codex"
  ln -s "codex-$oldest" "$tools/codex"
fi
