#!/usr/bin/env bash
# Cross-checks `cargo bench --bench proxy` with the independent Python kit in
# $SHARED_DIR/bench (default ../shared/bench, beside a clone of this repository):
# builds the release binary, starts the kit's mock upstream, the proxy in front of it
# and, when it is installed, nginx (buffering off) as the plain relay to compare
# with, and runs proxybench.py (A/A noise floor, CPU per request):
#
#   1. 16 KiB body naming a workspace (`--workspace`): the whole pipeline, as in a
#      Codex turn: benches/workspace's seven agents (Task tool offered) in a git
#      repository (built-in status line);
#   2. 4 MiB body naming the same workspace;
#   3. 16 KiB body naming none: the relay path.
#
# It prints the kit's reports and then each run's ratios to nginx (or to direct).
#
#   scripts/bench-crosscheck.sh [extra proxybench.py arguments for every run]
#   SHARED_DIR=/path/to/shared FOURMIB_ARGS="--n 50" RUNS="1 2" NGINX=0 scripts/bench-crosscheck.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
shared=${SHARED_DIR:-../shared}
kit="$shared/bench"
# The 4 MiB run moves 4 MiB per request through three Python-driven hops: fewer rounds.
fourmib_args=${FOURMIB_ARGS:---n 100 --tput-seconds 4}
runs=${RUNS:-1 2 3}
for f in mock_upstream.py proxybench.py; do
    [[ -f "$kit/$f" ]] || { echo "bench-crosscheck: $kit/$f not found; set SHARED_DIR to the directory that holds bench/" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "bench-crosscheck: python3 is required" >&2; exit 2; }

bin=${CODEX_PLUS_BIN:-}
if [[ -z $bin ]]; then
    cargo build --release --bin codex-plus
    bin="$root/target/release/codex-plus"
fi

tmp=$(mktemp -d)
mock_pid=""
proxy_pid=""
nginx_pid=""
cleanup() {
    set +e
    for pid in $proxy_pid $nginx_pid $mock_pid; do
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

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
proxy_port=$(free_port)
mkdir -p "$tmp/home"
CODEX_PLUS_HOME="$tmp/home" "$bin" serve --listen "127.0.0.1:$proxy_port" \
    --openai-upstream "http://127.0.0.1:$mock_port" 2>"$tmp/proxy.log" &
proxy_pid=$!
health() {
    python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:$proxy_port/health', timeout=1).status != 200)"
}
wait_for health 30 || { echo "bench-crosscheck: the proxy did not answer /health; its log:" >&2; cat "$tmp/proxy.log" >&2; exit 1; }

# The workspace the whole-pipeline runs name: the bench's agents, in a git repository.
ws="$tmp/workspace"
cp -r "$root/benches/workspace" "$ws"
git -C "$ws" init -q
git -C "$ws" -c user.name=bench -c user.email=bench@localhost commit -q --allow-empty -m start

targets=(--target "codex-plus=http://127.0.0.1:$proxy_port/v1" --cpu "codex-plus=$proxy_pid")
if [[ ${NGINX:-1} != 0 ]] && command -v nginx >/dev/null; then
    nginx_port=$(free_port)
    mkdir -p "$tmp/nginx"
    # One process (no master), so its CPU is the kit's `--cpu` of one pid.
    cat >"$tmp/nginx/nginx.conf" <<CONF
master_process off;
daemon off;
worker_processes 1;
error_log $tmp/nginx/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx;
    proxy_temp_path $tmp/nginx;
    client_max_body_size 64m;
    client_body_buffer_size 8m;
    upstream mock { server 127.0.0.1:$mock_port; keepalive 128; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
CONF
    nginx -c "$tmp/nginx/nginx.conf" &
    nginx_pid=$!
    nginx_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $nginx_port), 1)"; }
    wait_for nginx_up 10 || { echo "bench-crosscheck: nginx did not start" >&2; cat "$tmp/nginx/error.log" >&2; exit 1; }
    targets+=(--target "nginx=http://127.0.0.1:$nginx_port/v1" --cpu "nginx=$nginx_pid")
fi

echo "bench-crosscheck: mock :$mock_port, codex-plus :$proxy_port (pid $proxy_pid)${nginx_pid:+, nginx :$nginx_port (pid $nginx_pid)}, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
run() {
    python3 "$kit/proxybench.py" --mock "http://127.0.0.1:$mock_port/v1" "${targets[@]}" --aa "$@"
}
# Each run's figures against nginx's in the same run (or direct's, without nginx).
ratios() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = {n: c["us_per_req"] for n, c in r["cpu"].items()}
base = "nginx" if "nginx" in cpu else "direct"
for c, t in r["throughput"].items():
    line = f"  c={c}: codex-plus {t['codex-plus']['rps']:.0f} req/s = {t['codex-plus']['rps'] / t[base]['rps']:.2f}x {base}"
    if base != "direct":
        line += f", {t['codex-plus']['rps'] / t['direct']['rps']:.2f}x direct"
    print(line)
if "nginx" in cpu:
    print(f"  CPU per request: codex-plus {cpu['codex-plus']:.0f} us, nginx {cpu['nginx']:.0f} us = {cpu['codex-plus'] / cpu['nginx']:.2f}x nginx")
else:
    print(f"  CPU per request: codex-plus {cpu['codex-plus']:.0f} us (no nginx in this run)")
PY
}
for n in $runs; do
    case $n in
        1) echo; echo "== 16 KiB request body, workspace with agents (whole pipeline)"
           run --workspace "$ws" --json "$root/target/bench-crosscheck-16k-ws.json" "$@"
           ratios "$root/target/bench-crosscheck-16k-ws.json" ;;
        2) echo; echo "== 4 MiB request body, workspace with agents ($fourmib_args)"
           # shellcheck disable=SC2086 # word splitting of the extra arguments is intended
           run --workspace "$ws" --req-kb 4096 $fourmib_args --json "$root/target/bench-crosscheck-4m-ws.json" "$@"
           ratios "$root/target/bench-crosscheck-4m-ws.json" ;;
        3) echo; echo "== 16 KiB request body, no workspace (relay path)"
           run --json "$root/target/bench-crosscheck-16k.json" "$@"
           ratios "$root/target/bench-crosscheck-16k.json" ;;
        *) echo "bench-crosscheck: RUNS takes 1, 2 and 3" >&2; exit 2 ;;
    esac
done
echo; echo "bench-crosscheck: proxy log lines: $(wc -l <"$tmp/proxy.log"); JSON in target/bench-crosscheck-*.json"
