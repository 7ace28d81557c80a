#!/usr/bin/env bash
# What traces cost the turn path: `cargo bench --bench proxy` with telemetry off (the
# default) and on (benches/proxy/telemetry.toml, spans sent to a sink this script
# starts on 127.0.0.1:14318), alternating, then the figures side by side and the
# number of span exports the sink took (so "on" is proven to have sent spans).
#
#   scripts/bench-telemetry.sh              phases 1 (16 KiB latency) and 4 (c=64)
#   ROUNDS=3 scripts/bench-telemetry.sh --only 4
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(--only 1,4)
rounds=${ROUNDS:-2}

out=$(mktemp -d)
python3 - "$out/exports" <<'PY' &
import http.server, sys
count_file = sys.argv[1]
count = 0
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("content-length", 0)))
        count += 1
        open(count_file, "w").write(str(count))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 14318), Sink).serve_forever()
PY
sink=$!
trap 'kill $sink 2>/dev/null; rm -rf "$out"' EXIT

cargo bench --bench proxy --no-run
for ((r = 1; r <= rounds; r++)); do
    for mode in off on; do
        echo "bench-telemetry: telemetry $mode (round $r)" >&2
        if [[ $mode == on ]]; then
            PROXY_BENCH_CONFIG=benches/proxy/telemetry.toml cargo bench --bench proxy -- "${args[@]}" >"$out/$mode.$r" 2>&1
        else
            cargo bench --bench proxy -- "${args[@]}" >"$out/$mode.$r" 2>&1
        fi || { cat "$out/$mode.$r" >&2; exit 1; }
    done
done
for mode in off on; do
    for ((r = 1; r <= rounds; r++)); do
        echo
        echo "== telemetry $mode, round $r"
        grep -E '^(1|2|2b|3|4|5|6) ' "$out/$mode.$r" |
            grep -vE 'byte-identical|lost or changed|extended by the proxy' || true
    done
done
echo
echo "span exports received by the sink: $(cat "$out/exports" 2>/dev/null || echo 0)"
