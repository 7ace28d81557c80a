#!/usr/bin/env bash
# Cross-checks `cargo bench --bench proxy` with the independent Python kit in
# $SHARED_DIR/bench (default ../shared/bench, beside a clone of this repository):
# builds the release binary, starts the kit's mock upstream and the proxy in front
# of it, runs proxybench.py (A/A noise floor, proxy CPU per request) with a 16 KiB
# and a 4 MiB request body, prints the kit's reports, and stops everything.
#
#   scripts/bench-crosscheck.sh [extra proxybench.py arguments for both runs]
#   SHARED_DIR=/path/to/shared FOURMIB_ARGS="--n 50" scripts/bench-crosscheck.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
shared=${SHARED_DIR:-../shared}
kit="$shared/bench"
# The 4 MiB run moves 4 MiB per request through three Python-driven hops: fewer rounds.
fourmib_args=${FOURMIB_ARGS:---n 100 --tput-seconds 4}
for f in mock_upstream.py proxybench.py; do
    [[ -f "$kit/$f" ]] || { echo "bench-crosscheck: $kit/$f not found; set SHARED_DIR to the directory that holds bench/" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "bench-crosscheck: python3 is required" >&2; exit 2; }

cargo build --release --bin codex-plus
bin="$root/target/release/codex-plus"

tmp=$(mktemp -d)
mock_pid=""
proxy_pid=""
cleanup() {
    set +e
    for pid in $proxy_pid $mock_pid; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# Waits (at most $2 seconds) until the function $1 succeeds.
wait_for() {
    local deadline=$((SECONDS + $2))
    until "$1" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

python3 "$kit/mock_upstream.py" --port 0 --port-file "$tmp/mock.port" --quiet &
mock_pid=$!
mock_ready() { [[ -s "$tmp/mock.port" ]]; }
wait_for mock_ready 10 || { echo "bench-crosscheck: the mock did not start" >&2; exit 1; }
mock_port=$(<"$tmp/mock.port")

proxy_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/home"
CODEX_PLUS_HOME="$tmp/home" "$bin" serve --listen "127.0.0.1:$proxy_port" \
    --openai-upstream "http://127.0.0.1:$mock_port" 2>"$tmp/proxy.log" &
proxy_pid=$!
health() {
    python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:$proxy_port/health', timeout=1).status != 200)"
}
wait_for health 30 || { echo "bench-crosscheck: the proxy did not answer /health; its log:" >&2; cat "$tmp/proxy.log" >&2; exit 1; }

echo "bench-crosscheck: mock :$mock_port, codex-plus :$proxy_port (pid $proxy_pid), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
run() {
    python3 "$kit/proxybench.py" --mock "http://127.0.0.1:$mock_port/v1" \
        --target "codex-plus=http://127.0.0.1:$proxy_port/v1" --cpu "codex-plus=$proxy_pid" --aa "$@"
}
echo; echo "== 16 KiB request body"
run --json "$root/target/bench-crosscheck-16k.json" "$@"
echo; echo "== 4 MiB request body ($fourmib_args)"
# shellcheck disable=SC2086 # word splitting of the extra arguments is intended
run --req-kb 4096 $fourmib_args --json "$root/target/bench-crosscheck-4m.json" "$@"
echo; echo "bench-crosscheck: proxy log lines: $(wc -l <"$tmp/proxy.log"); JSON in target/bench-crosscheck-{16k,4m}.json"
