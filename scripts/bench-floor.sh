#!/usr/bin/env bash
# Runs `cargo bench --bench proxy` against codex-plus and against the floor of its
# stack (examples/bare_relay.rs: hyper's server and an HTTP client relaying bytes,
# nothing else), once with reqwest as the client and once with hyper-util's (what
# codex-plus uses), then prints the figures side by side. What codex-plus costs
# above the floor is what its own work (parsing, middleware, the interceptor) costs;
# a target the floor misses is out of reach of this stack on this machine.
#
#   scripts/bench-floor.sh              phases 1 (16 KiB latency), 4 and 5 (c=64), 6 (memory)
#   scripts/bench-floor.sh --only 4     any arguments go to each bench run
#   ROUNDS=2 scripts/bench-floor.sh     the three targets measured twice, alternating
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(--only 1,4,6)
rounds=${ROUNDS:-1}

cargo build --release --bin codex-plus --example bare_relay
cargo bench --bench proxy --no-run

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
names=(codex-plus bare-reqwest bare-hyper)
run() {
    local name=$1 round=$2 bin=$root/target/release/codex-plus client=reqwest
    case $name in
        bare-reqwest) bin=$root/target/release/examples/bare_relay ;;
        bare-hyper) bin=$root/target/release/examples/bare_relay client=hyper ;;
    esac
    echo "bench-floor: $name (round $round)" >&2
    BARE_RELAY_CLIENT=$client CODEX_PLUS_BIN=$bin cargo bench --bench proxy -- "${args[@]}" \
        >"$out/$name.$round" 2>&1 || { cat "$out/$name.$round" >&2; exit 1; }
}
for ((r = 1; r <= rounds; r++)); do
    for name in "${names[@]}"; do
        run "$name" "$r"
    done
done

# The figure rows ("<phase>  <figure>  <direct> <proxy> <added> ..."), one block per target.
for name in "${names[@]}"; do
    for ((r = 1; r <= rounds; r++)); do
        echo
        echo "== $name, round $r"
        grep -E '^(1|2|2b|3|4|5|6) ' "$out/$name.$r" |
            grep -vE 'byte-identical|lost or changed|extended by the proxy' || true
    done
done
