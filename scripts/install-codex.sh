#!/usr/bin/env bash
# Installs the pinned Codex CLI that the end-to-end tests drive, into .tools/codex
# (ignored by git). Idempotent: does nothing when that version is already there.
set -euo pipefail
VERSION="${CODEX_VERSION:-0.169.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/.tools/codex"
installed="$(node -p "require('$dir/node_modules/@openai/codex/package.json').version" 2>/dev/null || true)"
if [ "$installed" = "$VERSION" ]; then
  echo "codex $VERSION already installed in $dir"
  exit 0
fi
command -v npm >/dev/null || { echo "install-codex: npm is required (Node.js 18+)" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"private":true}' > "$dir/package.json"
echo "installing @openai/codex@$VERSION into $dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@openai/codex@$VERSION"
"$dir/node_modules/.bin/codex" --version
