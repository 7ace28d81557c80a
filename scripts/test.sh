#!/usr/bin/env bash
# The test command: installs what the end-to-end tests drive (the pinned Codex CLI
# versions from npm; tmux for the interactive TUI test, Chromium and chromedriver for the
# dashboard's browser test, from the system's packages when missing), runs every test
# (unit, integration, end to end) with the end-to-end tests against the oldest pinned Codex, then runs the end-to-end tests (tests/e2e_*.rs) again
# against each newer pinned Codex. CODEX_VERSIONS / CODEX_VERSION (see install-codex.sh)
# replace the pinned list. Extra arguments go to every cargo test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-codex.sh
# System packages the tests drive: tmux for the interactive TUI test; Chromium and its
# WebDriver for the dashboard's browser test (tests/dashboard_browser.rs).
missing=()
command -v tmux >/dev/null || missing+=(tmux)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (the TUI test drives Codex in tmux; the dashboard test drives Chromium)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null; then
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
  elif [ "${missing[*]}" = tmux ] && command -v dnf >/dev/null; then
    $sudo dnf install -y tmux
  elif [ "${missing[*]}" = tmux ] && command -v brew >/dev/null; then
    brew install tmux
  else
    echo "test.sh: install ${missing[*]} with your package manager (the browser test runs /usr/bin/chromium and /usr/bin/chromedriver, as Debian's chromium and chromium-driver install them)" >&2
    exit 1
  fi
fi

read -r -a versions <<<"$(scripts/install-codex.sh --print)"
[ -z "${CODEX_BIN:-}" ] || echo "test.sh: CODEX_BIN is set, so every pass drives $CODEX_BIN" >&2

# Every pass runs even when an earlier one failed; the script fails if any did.
failed=()
echo "== cargo test: all tests, end-to-end against Codex ${versions[0]}"
CODEX_E2E_VERSION="${versions[0]}" cargo test --locked "$@" || failed+=("all tests (Codex ${versions[0]})")

for version in "${versions[@]:1}"; do
  echo "== cargo test: end-to-end tests against Codex $version"
  CODEX_E2E_VERSION="$version" cargo test --locked --test 'e2e_*' "$@" || failed+=("end-to-end tests (Codex $version)")
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'test.sh: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
