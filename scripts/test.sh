#!/usr/bin/env bash
# The test command: installs what the end-to-end tests drive (the pinned Codex CLI from
# npm; tmux for the interactive TUI test, from the system's packages when missing), then
# runs every test (unit, integration, end to end). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-codex.sh
if ! command -v tmux >/dev/null; then
  echo "installing tmux (the TUI test drives the real Codex TUI in it)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null; then
    $sudo apt-get update -qq && $sudo apt-get install -y -qq tmux
  elif command -v dnf >/dev/null; then
    $sudo dnf install -y tmux
  elif command -v brew >/dev/null; then
    brew install tmux
  else
    echo "test.sh: install tmux with your package manager" >&2
    exit 1
  fi
fi
cargo test --locked "$@"
