#!/usr/bin/env bash
# proxy.sh: run codex-plus in the background and look after it.
#
#   ./proxy.sh enable      build if needed, start, wait until /health answers
#   ./proxy.sh disable     stop (SIGTERM, graceful; SIGKILL after the grace period)
#   ./proxy.sh status      running or not, pid, address, /status (exit 0 running, 3 not)
#   ./proxy.sh restart     disable, then enable
#   ./proxy.sh logs [-f]   the end of the log (-f: follow it)
#
# Environment:
#   CODEX_PLUS_HOME           state directory (default ~/.codex-plus): proxy.pid, proxy.log
#   CODEX_PLUS_BIN            the codex-plus binary to run (default: target/release/codex-plus
#                             next to this script, built with cargo when missing or stale)
#   CODEX_PLUS_START_TIMEOUT  seconds to wait for /health after starting (default 30)
#   CODEX_PLUS_LISTEN and the other CODEX_PLUS_* settings reach the binary as usual; the
#   address used here is the binary's own answer (`codex-plus config --get server.listen`).
#
# Needs bash 3.2+. Uses curl when present, else bash's /dev/tcp. Names the program that
# holds a busy port with ss, lsof or /proc, whichever exists.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CODEX_PLUS_HOME="${CODEX_PLUS_HOME:-${HOME:?set CODEX_PLUS_HOME or HOME}/.codex-plus}"
STATE_DIR=$CODEX_PLUS_HOME
PID_FILE=$STATE_DIR/proxy.pid
LOG_FILE=$STATE_DIR/proxy.log
BIN=${CODEX_PLUS_BIN:-$ROOT/target/release/codex-plus}
START_TIMEOUT=${CODEX_PLUS_START_TIMEOUT:-30}

say() { printf '%s\n' "$*"; }
die() {
    printf 'proxy.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# Runs a command with a time limit where `timeout` exists (it does not on stock macOS).
bounded() {
    local secs=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout "$secs" "$@"
    else
        "$@"
    fi
}

# --- the binary ---------------------------------------------------------------

needs_build() {
    [[ -x $BIN ]] || return 0
    local inputs=() p
    for p in src config Cargo.toml Cargo.lock; do
        [[ -e $ROOT/$p ]] && inputs+=("$ROOT/$p")
    done
    ((${#inputs[@]})) || return 1
    [[ -n $(find "${inputs[@]}" -newer "$BIN" -print -quit 2>/dev/null) ]]
}

ensure_binary() {
    if [[ -n ${CODEX_PLUS_BIN:-} ]]; then
        [[ -x $BIN ]] || die "CODEX_PLUS_BIN=$BIN is not an executable file"
        return 0
    fi
    needs_build || return 0
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust (https://rustup.rs) or set CODEX_PLUS_BIN to a built codex-plus"
    say "building codex-plus (cargo build --release), the first build takes several minutes..."
    (cd "$ROOT" && cargo build --release) || die "the build failed (see above)"
}

# The configured listen address, as the binary resolves it (user file, env, defaults).
listen_addr() {
    "$BIN" config --get server.listen ||
        die "cannot read the configuration (see the error above)"
}

# The address to connect to: a wildcard listen address is reached on loopback.
dial_addr() {
    case $1 in
        0.0.0.0:*) printf '127.0.0.1:%s\n' "${1##*:}" ;;
        "[::]:"*) printf '[::1]:%s\n' "${1##*:}" ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# --- processes ----------------------------------------------------------------

# A process that exists and is not a zombie.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    if [[ -r /proc/$1/stat ]]; then
        state=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        state=${state##*) }
    else
        state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
        state=${state# }
    fi
    [[ ${state:0:1} != Z ]]
}

# A process's arguments, one per line.
proc_args() {
    if [[ -r /proc/$1/cmdline ]]; then
        tr '\0' '\n' <"/proc/$1/cmdline"
    else
        ps -o args= -p "$1" 2>/dev/null | tr ' ' '\n'
    fi
}

# A process's command line on one line, for messages.
proc_cmd() {
    local cmd
    cmd=$(proc_args "$1" | tr '\n' ' ')
    cmd=${cmd% }
    printf '%s\n' "${cmd:-unknown command}"
}

# Whether a pid is a running `codex-plus serve` (a reused pid belongs to something else).
is_ours() {
    alive "$1" || return 1
    local first="" arg serve=no
    while IFS= read -r arg; do
        [[ -z $first ]] && first=$arg
        [[ $arg == serve ]] && serve=yes
    done < <(proc_args "$1")
    first=${first##*/}
    [[ $serve == yes && ($first == codex-plus || $first == "${BIN##*/}") ]]
}

# The pid in the pid file when it is our running proxy; a stale file is removed.
running_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(tr -cd '0-9' <"$PID_FILE")
    if [[ -n $pid ]] && is_ours "$pid"; then
        printf '%s\n' "$pid"
        return 0
    fi
    if [[ -n $pid ]] && alive "$pid"; then
        say "removed a stale pid file: pid $pid is now another program ($(proc_cmd "$pid"))" >&2
    else
        say "removed a stale pid file: pid ${pid:-?} is gone" >&2
    fi
    rm -f "$PID_FILE"
    return 1
}

# --- ports --------------------------------------------------------------------

# Whether something accepts connections at host:port.
port_open() {
    local host=${1%:*} port=${1##*:}
    host=${host#[}
    host=${host%]}
    # shellcheck disable=SC2016 # the inner bash expands its own arguments
    bounded 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

# The pid listening on a TCP port, from /proc (for systems without ss and lsof).
proc_port_pid() {
    local hex inode fd
    hex=$(printf '%04X' "$1")
    inode=$(awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 3) == p { print $10; exit }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null) || true
    [[ -n $inode ]] || return 0
    fd=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\\[$inode\\]" -print -quit 2>/dev/null) || true
    fd=${fd#/proc/}
    [[ -z $fd ]] || printf '%s\n' "${fd%%/*}"
}

# "pid N (command)" for the program listening on a port, or "unknown program".
port_holder() {
    local port=$1 pid=""
    if command -v ss >/dev/null 2>&1; then
        pid=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1) || true
        pid=${pid#pid=}
    fi
    if [[ -z $pid ]] && command -v lsof >/dev/null 2>&1; then
        pid=$(lsof -nP -t -iTCP:"$port" -sTCP:LISTEN 2>/dev/null | head -n 1) || true
    fi
    if [[ -z $pid && -r /proc/net/tcp ]]; then
        pid=$(proc_port_pid "$port")
    fi
    if [[ -n $pid ]]; then
        say "pid $pid ($(proc_cmd "$pid"))"
    else
        say "unknown program"
    fi
}

# --- HTTP ---------------------------------------------------------------------

HTTP_CODE=000
HTTP_BODY=""

# GET http://<addr><path>; sets HTTP_CODE and HTTP_BODY. Plain HTTP: the proxy serves
# HTTP and TLS on the same port.
http_get() {
    local addr=$1 path=$2 out
    HTTP_CODE=000
    HTTP_BODY=""
    if command -v curl >/dev/null 2>&1; then
        # --noproxy: an http_proxy in the environment must not intercept loopback.
        out=$(curl -sS --noproxy '*' --max-time 3 -w '\n%{http_code}' "http://$addr$path" 2>/dev/null) ||
            return 1
        HTTP_CODE=${out##*$'\n'}
        HTTP_BODY=${out%$'\n'*}
    else
        local host=${addr%:*} port=${addr##*:}
        host=${host#[}
        host=${host%]}
        # shellcheck disable=SC2016 # the inner bash expands its own arguments
        out=$(bounded 3 bash -c '
            exec 3<>"/dev/tcp/$1/$2" || exit 1
            printf "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$3" "$4" >&3
            cat <&3' _ "$host" "$port" "$path" "$addr" 2>/dev/null) || return 1
        local status_line=${out%%$'\r\n'*}
        HTTP_CODE=$(printf '%s\n' "$status_line" | cut -d ' ' -f 2)
        HTTP_BODY=${out#*$'\r\n\r\n'}
    fi
    [[ $HTTP_CODE == 2* ]]
}

healthy() {
    http_get "$1" /health && [[ $HTTP_BODY == *'"status":"ok"'* ]]
}

pretty_json() {
    if command -v jq >/dev/null 2>&1; then
        jq . 2>/dev/null <<<"$1" && return 0
    elif command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool 2>/dev/null <<<"$1" && return 0
    fi
    printf '%s\n' "$1"
}

# --- commands -----------------------------------------------------------------

cmd_enable() {
    mkdir -p "$STATE_DIR" && chmod 700 "$STATE_DIR"
    ensure_binary
    local listen dial pid
    listen=$(listen_addr)
    dial=$(dial_addr "$listen")

    if pid=$(running_pid); then
        local deadline=$((SECONDS + START_TIMEOUT))
        while ! healthy "$dial" && ((SECONDS < deadline)); do
            sleep 0.2
        done
        healthy "$dial" ||
            die "codex-plus (pid $pid) is running but http://$dial/health does not answer; try: $0 restart"
        say "codex-plus is already running (pid $pid) on http://$dial"
        return 0
    fi

    if port_open "$dial"; then
        die "cannot start: port ${dial##*:} ($listen) is held by $(port_holder "${dial##*:}"); stop it, or choose another address with CODEX_PLUS_LISTEN or server.listen in $STATE_DIR/config.toml"
    fi

    local log_start=0
    [[ -f $LOG_FILE ]] && log_start=$(wc -c <"$LOG_FILE" | tr -d ' ')
    printf -- '--- %s proxy.sh: starting %s serve\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$BIN" >>"$LOG_FILE"
    # Detached: own session (no SIGHUP when the terminal closes), no stdin, log appended.
    if command -v setsid >/dev/null 2>&1; then
        setsid "$BIN" serve </dev/null >>"$LOG_FILE" 2>&1 &
    else
        nohup "$BIN" serve </dev/null >>"$LOG_FILE" 2>&1 &
    fi
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"

    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if healthy "$dial"; then
            # The proxy reports its own pid: trust it over $! should a wrapper have forked.
            if [[ $(http_get "$dial" /status && printf '%s' "$HTTP_BODY") =~ \"pid\":([0-9]+) ]]; then
                pid=${BASH_REMATCH[1]}
                printf '%s\n' "$pid" >"$PID_FILE"
            fi
            say "codex-plus started (pid $pid) on http://$dial; log: $LOG_FILE"
            return 0
        fi
        if ! alive "$pid"; then
            rm -f "$PID_FILE"
            start_failed "codex-plus exited while starting" "$log_start"
        fi
        sleep 0.2
    done
    stop_pid "$pid" 5 >/dev/null
    rm -f "$PID_FILE"
    start_failed "codex-plus did not answer http://$dial/health within ${START_TIMEOUT}s and was stopped" "$log_start"
}

# Reports a failed start with what the proxy logged during it, and exits.
start_failed() {
    {
        say "proxy.sh: $1. The last lines of $LOG_FILE:"
        tail -c +"$(($2 + 1))" "$LOG_FILE" | tail -n 20 | sed 's/^/  /'
    } >&2
    exit 1
}

# SIGTERM, wait up to $2 seconds, then SIGKILL. Prints what happened.
stop_pid() {
    local pid=$1 grace=$2 deadline
    kill -TERM "$pid" 2>/dev/null || true
    # SECONDS counts whole seconds: +1 so the wait is never shorter than the grace.
    deadline=$((SECONDS + grace + 1))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.2
        done
        say "codex-plus (pid $pid) did not stop within ${grace}s and was killed"
    else
        say "codex-plus stopped (pid $pid)"
    fi
}

cmd_disable() {
    local pid grace
    if ! pid=$(running_pid); then
        say "codex-plus is not running"
        return 0
    fi
    # Open streams get the server's own grace period to finish, plus a margin.
    grace=$("$BIN" config --get server.shutdown_grace_secs 2>/dev/null) || grace=10
    [[ $grace =~ ^[0-9]+$ ]] || grace=10
    local outcome
    outcome=$(stop_pid "$pid" $((grace + 5)))
    say "$outcome"
    printf -- '--- %s proxy.sh: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$outcome" >>"$LOG_FILE"
    alive "$pid" && die "pid $pid is still alive after SIGKILL"
    rm -f "$PID_FILE"
}

cmd_status() {
    local pid listen dial
    listen="unknown (codex-plus is not built)"
    dial=""
    if [[ -x $BIN ]]; then
        listen=$(listen_addr)
        dial=$(dial_addr "$listen")
    fi
    if ! pid=$(running_pid); then
        say "codex-plus is not running (configured address: $listen)"
        return 3
    fi
    say "codex-plus is running (pid $pid) on ${dial:-$listen}"
    say "log: $LOG_FILE"
    if [[ -n $dial ]] && http_get "$dial" /status; then
        pretty_json "$HTTP_BODY"
        return 0
    fi
    say "but http://${dial:-$listen}/status does not answer (HTTP $HTTP_CODE); see: $0 logs" >&2
    return 1
}

cmd_logs() {
    local follow=no
    while (($#)); do
        case $1 in
            -f | --follow) follow=yes ;;
            *) die "logs: unknown option '$1' (usage: $0 logs [-f])" ;;
        esac
        shift
    done
    if [[ ! -f $LOG_FILE ]]; then
        say "no log yet at $LOG_FILE (start the proxy with: $0 enable)"
        return 0
    fi
    if [[ $follow == yes ]]; then
        exec tail -n 50 -f "$LOG_FILE"
    fi
    tail -n 50 "$LOG_FILE"
}

main() {
    [[ $START_TIMEOUT =~ ^[0-9]+$ ]] ||
        die "CODEX_PLUS_START_TIMEOUT must be a whole number of seconds, not '$START_TIMEOUT'"
    local command=${1:-}
    (($#)) && shift
    case $command in
        enable | start) cmd_enable ;;
        disable | stop) cmd_disable ;;
        status) cmd_status ;;
        restart)
            cmd_disable
            cmd_enable
            ;;
        logs) cmd_logs "$@" ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
