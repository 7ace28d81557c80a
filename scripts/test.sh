#!/usr/bin/env bash
# The test command: installs the pinned Codex CLI the end-to-end tests drive, then
# runs every test (unit, integration, end to end). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-codex.sh
cargo test --locked "$@"
