#!/usr/bin/env bash
# Peer benchmark: sipwired vs Kamailio and vs the floor, the same load on the same machine in
# the same run. The floor is `sipwire-pipe` (tools/load/src/pipe.rs): a TCP byte pipe, one
# thread, epoll, copy bytes, an upstream connection per client connection; the least work any
# TCP relay can do.
#
#   make peer-bench                      # 3 rounds, 10 s per measurement
#   QUICK=1 tools/peer-bench/peer-bench.sh   # smoke run: 1 round, 2 s, docs untouched
#
# Per round, sipwired, Kamailio, then the pipe (A B C A B C ...), each started fresh with its
# own UAS (`sipwire-load --mode serve`, its own process), and measured in this order:
#   1. memory per idle connection: PSS (smaps_rollup, summed over the relay's processes)
#      with IDLE_CONNS idle client connections, minus the empty relay's PSS;
#   2. saturation throughput: closed loop, SAT_CONNS connections x SAT_OUTSTANDING in flight;
#   3. fixed rate RATE/s (open loop): relay CPU (utime+stime of every process of the relay,
#      from /proc) per 100 000 transactions, and p50/p99 latency;
#   4. connection setup rate: connect, one request, the answer, close (RST);
#   5. sipp round: sipp UAC (`-sn uac -t t1`, one connection) at SIPP_RATE calls/s, SIPP_CALLS
#      calls, through the relay to a sipp UAS (`-sn uas -t t1`) that replaces the load tool's
#      UAS for this round; relay CPU per 1 000 calls and failed calls. sipwired runs it twice:
#      with READERS readers and with tcp_children=1.
# The table (median over rounds, min-max, ratios sipwired/Kamailio and sipwired/floor) goes to
# stdout and, in a full run, into the section "## Peer benchmark: sipwired vs Kamailio and
# the floor" of DOC (docs/performance.md; it replaces the section of that title or of the old
# one, "## Peer benchmark: sipwired vs Kamailio"); other sections are left as they are.
#
# Environment (defaults in brackets):
#   ROUNDS [3; QUICK: 1]   DURATION seconds per measurement [10; QUICK: 2]   WARMUP [1]
#   RATE fixed rate, transactions/s [50 % of the lower saturation throughput of a
#        calibration run before round 1, rounded down to 2 significant digits]
#   QUICK=1 smoke run      DOC file to write [docs/performance.md; QUICK: none]
#   READERS reader threads/processes of both relays [nproc]
#   IDLE_CONNS [10000]     TCP_MAX_CONNS [20000]     RELAY_PORT [25060]
#   SAT_CONNS [4]  SAT_OUTSTANDING [16]  FIX_CONNS [4]  CLIENT_THREADS [2]  CONNECT_THREADS [2]
#   KAM_SHM_MB [52]  KAM_PKG_MB [2]  KAM_MEM allocator fm|qm|tlsf [tlsf]  KAM_RD_BUF [4096]
#   QUIET_MAX, QUIET_WAIT: before each measurement, wait up to QUIET_WAIT s [120; QUICK: 0]
#        until other processes use less than QUIET_MAX % of the machine [10] (1-s samples)
#   KAM_DEBUG Kamailio's log level [-5: alerts only]   KAMAILIO [kamailio]
#   SIPP_RATE sipp calls/s [3000]   SIPP_CALLS [30000; QUICK: 2000]   SIPP [sipp]
#   RELAYS [sipwired kamailio pipe] (one alone for debugging)   SKIP_BUILD=1 (use what is built)
#   KEEP=1 (keep the work directory with every output and log)
#   SIPP_ONLY=1 only the sipp rounds (no calibration, docs untouched): for iterating on them
#   CARGO_TARGET_DIR (where the release binaries are) [ROOT/target]
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NOTES=$ROOT/tools/peer-bench/notes.md

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    : "${ROUNDS:=1}" "${DURATION:=2}" "${DOC=}"
else
    : "${ROUNDS:=3}" "${DURATION:=10}" "${DOC=$ROOT/docs/performance.md}"
fi
: "${WARMUP:=1}" "${RATE:=}" "${READERS:=$(nproc)}"
: "${IDLE_CONNS:=10000}" "${TCP_MAX_CONNS:=20000}" "${RELAY_PORT:=25060}"
: "${SAT_CONNS:=4}" "${SAT_OUTSTANDING:=16}" "${FIX_CONNS:=4}"
: "${CLIENT_THREADS:=2}" "${CONNECT_THREADS:=2}"
: "${KAM_SHM_MB:=52}" "${KAM_PKG_MB:=2}" "${KAM_MEM:=tlsf}" "${KAM_RD_BUF:=4096}"
: "${QUIET_MAX:=10}" "${QUIET_WAIT:=$([[ $QUICK == 1 ]] && echo 0 || echo 120)}"
: "${KAM_DEBUG:=-5}" "${KAMAILIO:=kamailio}" "${SKIP_BUILD:=0}" "${KEEP:=0}"
: "${SIPP_RATE:=3000}" "${SIPP_CALLS:=$([[ $QUICK == 1 ]] && echo 2000 || echo 30000)}" "${SIPP:=sipp}"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LOAD=$TARGET_DIR/release/sipwire-load
SIPWIRED=$TARGET_DIR/release/sipwired
PIPE=$TARGET_DIR/release/sipwire-pipe
read -r -a RELAYS <<<"${RELAYS:-sipwired kamailio pipe}"
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)

log() { printf '[peer-bench %(%T)T] %s\n' -1 "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for v in QUIET_MAX QUIET_WAIT ROUNDS DURATION WARMUP READERS IDLE_CONNS TCP_MAX_CONNS RELAY_PORT SAT_CONNS \
    SAT_OUTSTANDING FIX_CONNS CLIENT_THREADS CONNECT_THREADS KAM_SHM_MB KAM_PKG_MB KAM_RD_BUF SIPP_RATE \
    SIPP_CALLS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
[[ -z $RATE || $RATE =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive whole number"
((ROUNDS >= 1 && DURATION >= 1)) || die "ROUNDS and DURATION must be at least 1"
((SIPP_RATE >= 1 && SIPP_CALLS >= 1)) || die "SIPP_RATE and SIPP_CALLS must be at least 1"
for relay in "${RELAYS[@]}"; do
    [[ $relay =~ ^(sipwired|kamailio|pipe)$ ]] || die "RELAYS: unknown relay '$relay' (sipwired, kamailio, pipe)"
done

# ---------------------------------------------------------------------------- state

WORK=$(mktemp -d /tmp/peer-bench.XXXXXX)
RES=$WORK/results.tsv # round <TAB> relay <TAB> metric <TAB> value
: >"$RES"
UAS_PID=""
UAS_PORT=""
RELAY_PID="" # the relay's process group leader (started with setsid)
IDLE_PID=""
IDLE_W="" # write end of the idle client's stdin
SIPP_UAS_PID=""
declare -A CMD=() # command lines for the report, by label
CMD_ORDER=(uas sipwired kamailio pipe idle saturation fixed connect sipp-uas sipwired-1 sipp-uac)

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $IDLE_W ]] && exec {IDLE_W}>&-
    [[ -n $IDLE_PID ]] && kill -TERM "$IDLE_PID" 2>/dev/null
    [[ -n $RELAY_PID ]] && stop_relay
    [[ -n $UAS_PID ]] && stop_uas
    [[ -n $SIPP_UAS_PID ]] && stop_sipp_uas
    if [[ $KEEP == 1 ]]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- helpers

now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# wait_until SECONDS WHAT COMMAND...: run COMMAND until it succeeds, polling every 50 ms;
# fail after SECONDS. If the relay was started and died meanwhile, fail at once.
wait_until() {
    local secs=$1 what=$2
    shift 2
    local deadline=$(($(now_ms) + secs * 1000))
    until "$@"; do
        if [[ -n $RELAY_PID ]] && ! kill -0 "$RELAY_PID" 2>/dev/null; then
            tail -n 20 "$WORK"/relay.err >&2 || true
            die "the relay exited while waiting for: $what"
        fi
        (($(now_ms) < deadline)) || die "timed out after ${secs}s waiting for: $what"
        sleep 0.05
    done
}

# remember a command line for the report (the last one per label wins), with the run's
# temp directory and the UAS port (picked by the OS per session) as placeholders
record_cmd() {
    local label=$1 line
    shift
    line=$(printf '%q ' "$@")
    line=${line//$WORK/\$WORK}
    [[ -n $UAS_PORT ]] && line=${line//127.0.0.1:$UAS_PORT/127.0.0.1:\$UAS_PORT}
    CMD[$label]=${line% }
}

put() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }

# jget KEY FILE: a value of the one-line JSON object the load tool prints
jget() {
    sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2" | head -n 1
}

# calc EXPR: floating-point arithmetic with awk
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

# live (not zombie) processes of a process group
group_pids() { ps -e -o pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'; }

# CPU ticks (utime + stime, all threads) of every process in the group
cpu_ticks() {
    local p files=()
    for p in $(group_pids "$1"); do files+=("/proc/$p/stat"); done
    { cat "${files[@]}" 2>/dev/null || true; } |
        awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }'
}

# CPU ticks of one process
pid_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# proportional set size in kB, summed over the group
pss_kb() {
    local p files=()
    for p in $(group_pids "$1"); do files+=("/proc/$p/smaps_rollup"); done
    { cat "${files[@]}" 2>/dev/null || true; } | awk '/^Pss:/ { s += $2 } END { print s + 0 }'
}

# distinct sockets open in the group
socket_count() {
    local p
    for p in $(group_pids "$1"); do
        find "/proc/$p/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null || true
    done | sort -u | wc -l
}

listening() { [[ -n $(ss -Hltn "( sport = :$1 )") ]]; }

# connections the peer closed and the relay has not closed yet
close_wait_count() { ss -Htn state close-wait "( sport = :$1 )" | wc -l; }

# PSS once it has settled: within max(0.5 %, 64 kB) of the window's first sample for 3 s
# (6 samples 0.5 s apart; a relay may release memory a second or two after a burst, e.g.
# sipwired hands quiet connections back from its readers after 1 s); 30 s cap
settled_pss() {
    local pgid=$1 start cur d tol stable=0 deadline=$(($(now_ms) + 30000))
    start=$(pss_kb "$pgid")
    cur=$start
    while ((stable < 6)) && (($(now_ms) < deadline)); do
        sleep 0.5
        cur=$(pss_kb "$pgid")
        d=$((cur - start))
        ((d < 0)) && d=$((-d))
        tol=$((cur / 200 > 64 ? cur / 200 : 64))
        if ((d <= tol)); then
            stable=$((stable + 1))
        else
            start=$cur
            stable=0
        fi
    done
    ((stable >= 6)) || log "warning: PSS still moving after 30 s (now $cur kB)"
    echo "$cur"
}

# ---------------------------------------------------------------------------- setup

setup() {
    command -v "$KAMAILIO" >/dev/null 2>&1 || [[ -x /usr/sbin/kamailio ]] || {
        log "Kamailio is missing: installing Debian's package"
        apt-get update && apt-get install -y kamailio
    }
    command -v "$KAMAILIO" >/dev/null 2>&1 || KAMAILIO=/usr/sbin/kamailio
    local t
    command -v "$SIPP" >/dev/null 2>&1 || [[ -x /usr/bin/sipp ]] || {
        log "sipp is missing: installing Debian's package (sip-tester)"
        apt-get update && apt-get install -y sip-tester
    }
    command -v "$SIPP" >/dev/null 2>&1 || SIPP=/usr/bin/sipp
    for t in ss setsid ps find awk getconf; do
        command -v "$t" >/dev/null 2>&1 || die "$t is needed"
    done

    if [[ $SKIP_BUILD != 1 ]]; then
        log "building the release binaries (cargo build --release -p sipwired -p sipwire-load)"
        (cd "$ROOT" && cargo build --release -p sipwired -p sipwire-load) >&2
    fi
    [[ -x $LOAD && -x $SIPWIRED && -x $PIPE ]] || die "missing $LOAD, $SIPWIRED or $PIPE"

    # Each of the relay and the idle client holds IDLE_CONNS sockets at once.
    local need=$((IDLE_CONNS + 256)) hard
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((hard < need)); then
        ulimit -Hn "$need" 2>/dev/null || die "open-file hard limit $hard < $need and cannot be raised"
        hard=$need
    fi
    if [[ $hard == unlimited ]] || ((hard > TCP_MAX_CONNS + 1024)); then
        ulimit -n $((TCP_MAX_CONNS + 1024))
    else
        ulimit -n "$hard"
    fi
    log "open-file limit $(ulimit -n) (hard $(ulimit -Hn))"
    # The pipe holds two sockets per idle connection (an upstream one each): where the limit
    # cannot hold 2 x IDLE_CONNS, its idle measurement uses as many as fit (the figure is per
    # connection).
    PIPE_IDLE_CONNS=$IDLE_CONNS
    if (($(ulimit -n) < 2 * IDLE_CONNS + 64)); then
        PIPE_IDLE_CONNS=$((($(ulimit -n) - 64) / 2))
        if [[ " ${RELAYS[*]} " == *" pipe "* ]]; then
            log "the pipe's idle measurement: $PIPE_IDLE_CONNS connections (open-file limit $(ulimit -n) < 2 x $IDLE_CONNS + 64)"
        fi
    fi

    listening "$RELAY_PORT" && die "port $RELAY_PORT is already in use (set RELAY_PORT)"
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

    cat >"$WORK/sipwired.cfg" <<EOF
# peer-bench: sipwired with its defaults, plus the reader count and the connection limit
# the benchmark needs (listen and next hop are given on the command line).
tcp_children=$READERS
tcp_max_connections=$TCP_MAX_CONNS
# Kamailio 5.6.3 has none of these three: off, so both relays hold the same connections
# (every load-tool connection comes from 127.0.0.1, and idle ones never send a message).
tcp_accept_iplimit=0
tcp_msg_data_timeout=0
tcp_msg_read_timeout=0
EOF
    # the sipp round's second sipwired: the same with one reader
    sed "s/^tcp_children=.*/tcp_children=1/" "$WORK/sipwired.cfg" >"$WORK/sipwired-1.cfg"
}

kamailio_cfg() {
    cat <<EOF
#!KAMAILIO
# peer-bench: a stateless relay, every request to the UAS with forward_tcp();
# replies go back statelessly by the Via headers (no tm module).
debug=$KAM_DEBUG
log_stderror=yes
children=$READERS
tcp_children=$READERS
auto_aliases=no
dns=no
rev_dns=no
listen=tcp:127.0.0.1:$RELAY_PORT
tcp_max_connections=$TCP_MAX_CONNS
tcp_rd_buf_size=$KAM_RD_BUF

request_route {
    forward_tcp("127.0.0.1", $1);
}
EOF
}

# ---------------------------------------------------------------------------- processes

start_uas() {
    local cmd=("$LOAD" --mode serve --uas-listen 127.0.0.1:0 --uas-threads 1 --json)
    record_cmd uas "${cmd[@]}"
    "${cmd[@]}" >"$WORK/uas.out" 2>"$WORK/uas.err" &
    UAS_PID=$!
    wait_until 10 "the UAS to listen" grep -q '^listening ' "$WORK/uas.out"
    UAS_PORT=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$WORK/uas.out")
    [[ -n $UAS_PORT ]] || die "cannot read the UAS port from: $(cat "$WORK/uas.out")"
}

stop_uas() {
    kill -INT "$UAS_PID" 2>/dev/null || true
    wait "$UAS_PID" 2>/dev/null || true
    UAS_PID=""
}

probe() {
    "$LOAD" --mode uas-only --target "127.0.0.1:$RELAY_PORT" --ruri-host "127.0.0.1:$UAS_PORT" \
        --conns 1 --threads 1 --count 1 --timeout 1000 --quiet --json >/dev/null 2>&1
}

# start_relay RELAY [noprobe]: RELAY is sipwired, sipwired-1 (tcp_children=1), kamailio or
# pipe; noprobe: only wait until it listens (the sipp UAS answers no OPTIONS probe)
start_relay() {
    local relay=$1 probe=${2:-probe} cmd
    listening "$RELAY_PORT" && die "port $RELAY_PORT is already in use"
    case $relay in
    sipwired | sipwired-1)
        cmd=("$SIPWIRED" -f "$WORK/$relay.cfg" --listen "tcp:127.0.0.1:$RELAY_PORT"
            --forward "tcp:127.0.0.1:$UAS_PORT" --ctl "$WORK/ctl.sock")
        ;;
    kamailio)
        kamailio_cfg "$UAS_PORT" >"$WORK/kamailio.cfg"
        cmd=("$KAMAILIO" -DD -E -f "$WORK/kamailio.cfg" -m "$KAM_SHM_MB" -M "$KAM_PKG_MB"
            -x "$KAM_MEM" -Y "$WORK")
        ;;
    pipe)
        cmd=("$PIPE" --listen "127.0.0.1:$RELAY_PORT" --upstream "127.0.0.1:$UAS_PORT")
        ;;
    esac
    record_cmd "$relay" setsid "${cmd[@]}"
    # setsid: the relay and all its processes form one process group, which is how its
    # CPU and memory are summed (Kamailio forks a process per role).
    setsid "${cmd[@]}" >"$WORK/relay.out" 2>"$WORK/relay.err" &
    RELAY_PID=$!
    wait_until 5 "$relay to lead its own process group" own_group "$RELAY_PID"
    wait_until 15 "$relay to listen on $RELAY_PORT" listening "$RELAY_PORT"
    # The pipe cannot answer the probe itself either: it forwards it, and the UAS answers.
    [[ $probe == noprobe ]] || wait_until 15 "$relay to relay a request to the UAS" probe
}

own_group() { [[ $(ps -o pgid= -p "$1" | tr -d ' ') == "$1" ]]; }

stop_relay() {
    local p
    kill -TERM "$RELAY_PID" 2>/dev/null || true
    local deadline=$(($(now_ms) + 10000))
    while [[ -n $(group_pids "$RELAY_PID") ]] && (($(now_ms) < deadline)); do sleep 0.05; done
    for p in $(group_pids "$RELAY_PID"); do kill -KILL "$p" 2>/dev/null || true; done
    wait "$RELAY_PID" 2>/dev/null || true
    RELAY_PID=""
}

# ---------------------------------------------------------------------------- measurements

# run_load LABEL OUTFILE ARGS...: the load client, timed; sets LT_REAL LT_CPU (s), LOAD_RC
run_load() {
    local label=$1 out=$2
    shift 2
    local cmd=("$LOAD" --target "127.0.0.1:$RELAY_PORT" --ruri-host "127.0.0.1:$UAS_PORT" "$@"
        --json --quiet)
    record_cmd "$label" "${cmd[@]}"
    local TIMEFORMAT='%R %U %S' t
    LOAD_RC=0
    { time "${cmd[@]}" >"$out" 2>"$out.err"; } 2>"$out.time" || LOAD_RC=$?
    t=$(tail -n 1 "$out.time")
    LT_REAL=${t%% *}
    LT_CPU=$(awk '{ print $2 + $3 }' <<<"$t")
    [[ -s $out ]] || {
        cat "$out.err" >&2
        die "$label: the load tool printed nothing (exit $LOAD_RC)"
    }
}

errors_of() {
    awk -v a="$(jget lost "$1")" -v b="$(jget timeouts "$1")" -v c="$(jget duplicates "$1")" \
        -v d="$(jget mismatched "$1")" -v e="$(jget conn_errors "$1")" \
        'BEGIN { print a + b + c + d + e }'
}

measure_idle() {
    local round=$1 relay=$2 base base_socks loaded out=$WORK/idle.out n=$IDLE_CONNS
    [[ $relay == pipe ]] && n=$PIPE_IDLE_CONNS
    wait_quiet
    base=$(settled_pss "$RELAY_PID")
    base_socks=$(socket_count "$RELAY_PID")
    rm -f "$WORK/idle.in"
    mkfifo "$WORK/idle.in"
    local cmd=("$LOAD" --mode idle --target "127.0.0.1:$RELAY_PORT" --conns "$n" --json)
    record_cmd idle "${cmd[@]}"
    "${cmd[@]}" <"$WORK/idle.in" >"$out" 2>"$out.err" &
    IDLE_PID=$!
    exec {IDLE_W}>"$WORK/idle.in" # the client holds its connections until this closes
    wait_until 120 "$n idle connections to open" grep -q '^ready ' "$out"
    wait_until 60 "$relay to hold $n connections (if it closed some, see relay.err with KEEP=1; Kamailio: raise KAM_SHM_MB)" \
        test_socks "$RELAY_PID" $((base_socks + n))
    loaded=$(settled_pss "$RELAY_PID")
    exec {IDLE_W}>&-
    IDLE_W=""
    local rc=0
    wait "$IDLE_PID" || rc=$?
    IDLE_PID=""
    local open closed
    open=$(jget open_at_end "$out")
    closed=$(jget closed_by_peer "$out")
    if ((rc != 0)) || [[ $open != "$n" || $closed != 0 ]]; then
        log "warning: $relay idle: exit $rc, open at end '$open', closed by peer '$closed'"
        put "$round" "$relay" idle_errors 1
    fi
    put "$round" "$relay" base_pss_kb "$base"
    put "$round" "$relay" idle_pss_kb "$loaded"
    put "$round" "$relay" idle_conns "$n"
    put "$round" "$relay" pss_per_conn_b "$(calc "($loaded - $base) * 1024 / $n")"
    log "$relay idle: PSS $base kB empty, $loaded kB with $n connections"
    # Let the relay close them all before the next measurement.
    wait_until 120 "$relay to close the idle connections" no_close_wait
}

test_socks() { (($(socket_count "$1") >= $2)); }
no_close_wait() { (($(close_wait_count "$RELAY_PORT") == 0)); }

# CPU ticks of every other process on the machine: utime + stime + cutime + cstime summed
# over all processes but this script (whose children are the client runs), the relay's
# group and the UAS. The difference of two readings is what the others used in between:
# a process that exits during the interval moves its total into its parent's cutime/cstime.
# (/proc/stat is tick-sampled and miscounts timer-driven loads like these; per-process times
# are precise.)
others_ticks() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
        awk -v me="$$" -v relay="${RELAY_PID:-x}" -v uas="${UAS_PID:-x}" '{
            pid = $1; sub(/^.*\) /, "")
            if (pid == me || pid == uas || $3 == relay) next
            s += $12 + $13 + $14 + $15
        } END { print s + 0 }'
}

# voluntary + involuntary context switches of every thread of the relay
ctx_switches() {
    local p files=()
    for p in $(group_pids "$1"); do files+=("/proc/$p/task"/*/status); done
    { cat "${files[@]}" 2>/dev/null || true; } |
        awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

# before_run / after_run PREFIX ROUND RELAY TXNS: around a client run, the CPU of the relay,
# the UAS and the client (LT_CPU), the relay's context switches and the machine's busy time;
# records PREFIX_relay_us and PREFIX_load_us (CPU µs per transaction), PREFIX_ctxsw (relay
# context switches per transaction), PREFIX_share (the load tool's share of the CPU the
# benchmark used) and PREFIX_other (CPU used by anything else, share of the machine).
before_run() {
    B_RELAY=$(cpu_ticks "$RELAY_PID")
    B_UAS=$(pid_ticks "$UAS_PID")
    B_CSW=$(ctx_switches "$RELAY_PID")
    B_OTHERS=$(others_ticks)
}

after_run() {
    local prefix=$1 round=$2 relay=$3 txns=$4 relay_t uas_t csw others load_t
    relay_t=$(($(cpu_ticks "$RELAY_PID") - B_RELAY))
    uas_t=$(($(pid_ticks "$UAS_PID") - B_UAS))
    csw=$(($(ctx_switches "$RELAY_PID") - B_CSW))
    others=$(($(others_ticks) - B_OTHERS))
    load_t=$(calc "$LT_CPU * $CLK_TCK + $uas_t")
    RELAY_TICKS=$relay_t
    put "$round" "$relay" "${prefix}_relay_us" "$(calc "$relay_t * 1e6 / $CLK_TCK / $txns")"
    put "$round" "$relay" "${prefix}_load_us" "$(calc "$load_t * 1e6 / $CLK_TCK / $txns")"
    put "$round" "$relay" "${prefix}_ctxsw" "$(calc "$csw / $txns")"
    put "$round" "$relay" "${prefix}_share" "$(calc "$load_t / ($load_t + $relay_t)")"
    put "$round" "$relay" "${prefix}_other" \
        "$(calc "$others / ($LT_REAL * $CLK_TCK * $NCPU)")"
}

# wait_quiet: before a measurement, wait (up to QUIET_WAIT s) for a 1-s sample in which
# the other processes used less than QUIET_MAX % of the machine
wait_quiet() {
    ((QUIET_WAIT > 0)) || return 0
    local deadline=$(($(now_ms) + QUIET_WAIT * 1000)) o0 o1 pct waited=0
    while :; do
        o0=$(others_ticks)
        sleep 1
        o1=$(others_ticks)
        pct=$(((o1 - o0) * 100 / (CLK_TCK * NCPU)))
        ((pct < QUIET_MAX)) && break
        if (($(now_ms) >= deadline)); then
            log "warning: the machine is still busy (other processes: $pct %); measuring anyway"
            return 0
        fi
        ((waited == 0)) && log "other processes use $pct % of the machine: waiting for it to quiet down"
        waited=1
    done
    ((waited == 0)) || log "quiet now ($pct %)"
}

measure_saturation() {
    local round=$1 relay=$2 duration=${3:-$DURATION} out=$WORK/sat.json completed
    wait_quiet
    before_run
    run_load saturation "$out" --conns "$SAT_CONNS" --outstanding "$SAT_OUTSTANDING" \
        --threads "$CLIENT_THREADS" --duration "$duration" --warmup "$WARMUP"
    SAT_TPS=$(jget rate "$out")
    completed=$(jget completed "$out")
    # CPU is read over the whole client run: the warmup's transactions are estimated at the
    # measured rate
    after_run sat "$round" "$relay" "$(calc "$completed + $SAT_TPS * $WARMUP")"
    put "$round" "$relay" sat_tps "$SAT_TPS"
    put "$round" "$relay" sat_errors "$(errors_of "$out")"
    log "$relay saturation: $SAT_TPS txn/s (errors $(errors_of "$out"))"
}

measure_fixed() {
    local round=$1 relay=$2 out=$WORK/fixed.json txns completed
    wait_quiet
    before_run
    run_load fixed "$out" --rate "$RATE" --conns "$FIX_CONNS" --threads "$CLIENT_THREADS" \
        --duration "$DURATION" --warmup "$WARMUP"
    completed=$(jget completed "$out")
    # The relay's CPU is read over the whole client run, warmup included: the warmup's
    # transactions (RATE x WARMUP, the open-loop schedule) are added to the measured ones.
    txns=$((completed + RATE * WARMUP))
    after_run fixed "$round" "$relay" "$txns"
    put "$round" "$relay" cpu_ms_100k "$(calc "$RELAY_TICKS * 1000 / $CLK_TCK * 100000 / $txns")"
    put "$round" "$relay" p50_us "$(jget p50_us "$out")"
    put "$round" "$relay" p99_us "$(jget p99_us "$out")"
    put "$round" "$relay" p999_us "$(jget p999_us "$out")"
    put "$round" "$relay" fixed_errors "$(errors_of "$out")"
    if ((completed * 100 < RATE * DURATION * 99)); then
        log "warning: $relay did not sustain $RATE/s: $completed of $((RATE * DURATION)) completed"
        put "$round" "$relay" fixed_short 1
    fi
    log "$relay at $RATE/s: relay CPU $RELAY_TICKS ticks for $txns txns, p50 $(jget p50_us "$out") us, p99 $(jget p99_us "$out") us"
}

measure_connect() {
    local round=$1 relay=$2 out=$WORK/connect.json c0 c1
    wait_quiet
    c0=$(cpu_ticks "$RELAY_PID")
    run_load connect "$out" --mode connect-rate --threads "$CONNECT_THREADS" \
        --duration "$DURATION" --warmup "$WARMUP" --linger0
    c1=$(cpu_ticks "$RELAY_PID")
    put "$round" "$relay" conn_rate "$(jget rate "$out")"
    put "$round" "$relay" conn_p50_us "$(jget p50_us "$out")"
    put "$round" "$relay" conn_p99_us "$(jget p99_us "$out")"
    put "$round" "$relay" conn_errors "$(errors_of "$out")"
    log "$relay connect-rate: $(jget rate "$out") setups/s (relay CPU $((c1 - c0)) ticks)"
}

# ---------------------------------------------------------------------------- sipp round

# a TCP port from RELAY_PORT + 1 up that nothing listens on
free_port() {
    local p=$((RELAY_PORT + 1))
    while listening "$p"; do p=$((p + 1)); done
    echo "$p"
}

# the sipp UAS (built-in `uas` scenario, one TCP connection per peer: -t t1); it takes the
# place of the load tool's UAS for the sipp round (UAS_PORT is its port meanwhile)
start_sipp_uas() {
    local port
    port=$(free_port)
    local cmd=("$SIPP" -sn uas -t t1 -i 127.0.0.1 -p "$port" -max_socket 200 -nostdin)
    record_cmd sipp-uas "${cmd[@]}"
    (cd "$WORK" && exec "${cmd[@]}") >"$WORK/sipp-uas.out" 2>"$WORK/sipp-uas.err" &
    SIPP_UAS_PID=$!
    UAS_PORT=$port
    wait_until 10 "the sipp UAS to listen on $port" listening "$port"
}

stop_sipp_uas() {
    kill -TERM "$SIPP_UAS_PID" 2>/dev/null || true
    wait "$SIPP_UAS_PID" 2>/dev/null || true
    SIPP_UAS_PID=""
    UAS_PORT=""
}

# sipp_counter NAME FILE: the cumulative column of a line of sipp's last screen
# ("  Successful call   |   0   |   2000  ")
sipp_counter() {
    awk -F'|' -v n="$1" 'index($1, n) { x = $3; gsub(/[^0-9]/, "", x); if (x != "") c = x } END { print c }' "$2"
}

# measure_sipp ROUND RELAY PREFIX: the sipp UAC (built-in `uac`, -t t1: one connection) at
# SIPP_RATE calls/s, SIPP_CALLS calls, to the relay; records PREFIX_cpu_ms_1k (relay CPU per
# 1 000 calls), PREFIX_failed (calls that did not succeed) and PREFIX_cps (calls/s achieved)
measure_sipp() {
    local round=$1 relay=$2 prefix=$3 out=$WORK/sipp-uac.out port c0 c1 t0 t1 ok rc=0
    port=$(free_port)
    local cmd=("$SIPP" -sn uac -t t1 "127.0.0.1:$RELAY_PORT" -s service -i 127.0.0.1 -p "$port"
        -r "$SIPP_RATE" -m "$SIPP_CALLS" -max_socket 2000 -recv_timeout 10000
        -timeout "$((SIPP_CALLS / SIPP_RATE + 60))s" -timeout_error -nostdin)
    record_cmd sipp-uac "${cmd[@]}"
    wait_quiet
    c0=$(cpu_ticks "$RELAY_PID")
    t0=$(now_ms)
    (cd "$WORK" && exec "${cmd[@]}") >"$out" 2>"$out.err" || rc=$?
    t1=$(now_ms)
    c1=$(cpu_ticks "$RELAY_PID")
    ok=$(sipp_counter "Successful call" "$out")
    if [[ -z $ok ]]; then
        tail -n 30 "$out" "$out.err" >&2 || true
        die "$relay sipp: no final screen from sipp (exit $rc)"
    fi
    put "$round" "$relay" "${prefix}_cpu_ms_1k" "$(calc "($c1 - $c0) * 1000 / $CLK_TCK * 1000 / $SIPP_CALLS")"
    put "$round" "$relay" "${prefix}_failed" $((SIPP_CALLS - ok))
    put "$round" "$relay" "${prefix}_cps" "$(calc "$ok * 1000 / ($t1 - $t0)")"
    ((ok == SIPP_CALLS)) || log "warning: $relay sipp: $((SIPP_CALLS - ok)) of $SIPP_CALLS calls failed (sipp exit $rc)"
    log "$relay sipp ($prefix): $ok of $SIPP_CALLS calls at $SIPP_RATE/s, relay CPU $((c1 - c0)) ticks"
}

# sipp_session ROUND RELAY START PREFIX: a sipp UAS, the relay (started as START) forwarding to
# it, one sipp UAC run
sipp_session() {
    local round=$1 relay=$2 start=$3 prefix=$4
    start_sipp_uas
    start_relay "$start" noprobe
    measure_sipp "$round" "$relay" "$prefix"
    stop_relay
    stop_sipp_uas
}

session() {
    local round=$1 relay=$2
    log "round $round: $relay"
    if [[ ${SIPP_ONLY:-0} == 1 ]]; then
        sipp_session "$round" "$relay" "$relay" sipp
        [[ $relay != sipwired ]] || sipp_session "$round" sipwired sipwired-1 sipp1
        return
    fi
    start_uas
    start_relay "$relay"
    measure_idle "$round" "$relay"
    measure_saturation "$round" "$relay"
    measure_fixed "$round" "$relay"
    measure_connect "$round" "$relay"
    stop_relay
    stop_uas
    sipp_session "$round" "$relay" "$relay" sipp
    if [[ $relay == sipwired ]]; then
        sipp_session "$round" sipwired sipwired-1 sipp1
    fi
}

calibrate() {
    local relay tps low=""
    local d=$((DURATION < 5 ? DURATION : 5))
    for relay in "${RELAYS[@]}"; do
        log "calibration: $relay saturation for ${d}s"
        start_uas
        start_relay "$relay"
        measure_saturation cal "$relay" "$d"
        tps=${SAT_TPS%.*}
        stop_relay
        stop_uas
        if [[ -z $low ]] || ((tps < low)); then low=$tps; fi
    done
    # half the lower one, rounded down to two significant digits
    RATE=$(awk -v x="$low" 'BEGIN { r = x / 2; m = 1; while (r >= 100 * m) m *= 10;
        r = int(r / m) * m; print (r < 100 ? 100 : r) }')
    RATE_HOW="50 % of the lower saturation throughput of a ${d}-s calibration run ($low txn/s), rounded down to 2 significant digits"
    log "fixed rate: $RATE/s"
}

# ---------------------------------------------------------------------------- report

# summary tables (markdown) from the results: `summary main` (the figures and their targets)
# or `summary diag` (what explains them). Columns: sipwired, Kamailio, the floor (the pipe),
# then sipwired / Kamailio ("× Kamailio") and sipwired / floor ("× floor"), each ratio taken
# per round, then its median and range. Targets are against Kamailio.
summary() {
    awk -F'\t' -v which="$1" -v rate="$RATE" -v idle="$IDLE_CONNS" -v sc="$SAT_CONNS" \
        -v so="$SAT_OUTSTANDING" -v srate="$SIPP_RATE" -v scalls="$SIPP_CALLS" '
    function sortn(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    }
    function stats(a, n, fmt,   m) {       # "median (min–max)"; sets MED
        if (n == 0) { MED = ""; return "–" }
        sortn(a, n)
        m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        MED = m
        if (n == 1) return sprintf(fmt, m)
        return sprintf(fmt " (" fmt "–" fmt ")", m, a[1], a[n])
    }
    $1 != "cal" { v[$3, $2, $1] = $4; rounds[$1] = 1 }
    # row METRIC LABEL FMT SCALE OP TARGET [SW_METRIC]: SW_METRIC is the metric of the sipwired
    # column (default METRIC), e.g. the sipp round of sipwired with one reader
    function row(m, label, fmt, scale, op, tgt, msw,   r, a, b, c, q, f, na, nb, nc, nq, nf, sa, sb, sc, sq, sf, met, s) {
        if (msw == "") msw = m
        na = nb = nc = nq = nf = 0
        for (r in rounds) {
            if ((msw, "sipwired", r) in v) a[++na] = v[msw, "sipwired", r] * scale
            if ((m, "kamailio", r) in v) b[++nb] = v[m, "kamailio", r] * scale
            if ((m, "pipe", r) in v) c[++nc] = v[m, "pipe", r] * scale
            if ((msw, "sipwired", r) in v && (m, "pipe", r) in v && v[m, "pipe", r] > 0)
                f[++nf] = v[msw, "sipwired", r] / v[m, "pipe", r]
            if ((msw, "sipwired", r) in v && (m, "kamailio", r) in v && v[m, "kamailio", r] > 0)
                q[++nq] = v[msw, "sipwired", r] / v[m, "kamailio", r]
        }
        sa = stats(a, na, fmt); sb = stats(b, nb, fmt); sc = stats(c, nc, fmt)
        sf = stats(f, nf, "%.2f"); sq = stats(q, nq, "%.2f")    # MED: the Kamailio ratio
        met = "–"
        if (op != "" && nq > 0) met = ((op == ">=" && MED >= tgt) || (op == "<=" && MED <= tgt)) ? "yes" : "**no**"
        s = sprintf("| %s | %s | %s | %s | %s | %s |", label, sa, sb, sc, sq, sf)
        if (which == "main")
            s = s sprintf(" %s | %s |", (op == "" ? "–" : (op == ">=" ? "≥ " : "≤ ") tgt "×"), met)
        print s
    }
    END {
        if (which == "main") {
            print "| figure | sipwired | Kamailio | floor (pipe) | × Kamailio | × floor | target (× Kamailio) | met |"
            print "|---|---|---|---|---|---|---|---|"
            row("sat_tps", "1. saturation throughput, txn/s (closed loop, " sc " conns × " so " in flight)", "%.0f", 1, ">=", 2)
            row("cpu_ms_100k", "2. relay CPU per 100 000 txn at " rate "/s, ms", "%.0f", 1, "<=", 0.5)
            row("p50_us", "3. p50 latency at " rate "/s, µs", "%.0f", 1, "", 0)
            row("p99_us", "3. p99 latency at " rate "/s, µs", "%.0f", 1, "<=", 1)
            row("p999_us", "p99.9 latency at " rate "/s, µs", "%.0f", 1, "", 0)
            row("pss_per_conn_b", "4. memory (PSS) per idle connection, bytes (" idle " conns)", "%.0f", 1, "<=", 0.25)
            row("conn_rate", "5. connection setups/s (connect, 1 request, answer, close)", "%.0f", 1, "", 0)
            row("sipp_cpu_ms_1k", "6. sipp: relay CPU per 1 000 calls at " srate " calls/s, ms", "%.1f", 1, "", 0)
            row("sipp_cpu_ms_1k", "6. sipp: the same, sipwired with tcp_children=1, ms", "%.1f", 1, "", 0, "sipp1_cpu_ms_1k")
            row("sipp_failed", "sipp: failed calls (of " scalls ")", "%d", 1, "", 0)
            row("sipp_failed", "sipp: failed calls, sipwired with tcp_children=1", "%d", 1, "", 0, "sipp1_failed")
        } else {
            print "| diagnostic | sipwired | Kamailio | floor (pipe) | × Kamailio | × floor |"
            print "|---|---|---|---|---|---|"
            row("base_pss_kb", "PSS of the empty relay, kB", "%.0f", 1)
            row("idle_pss_kb", "PSS with " idle " idle connections, kB", "%.0f", 1)
            row("sat_relay_us", "relay CPU per txn at saturation, µs", "%.1f", 1)
            row("sat_load_us", "load tool (client + UAS) CPU per txn at saturation, µs", "%.1f", 1)
            row("sat_ctxsw", "relay context switches per txn at saturation", "%.2f", 1)
            row("fixed_ctxsw", "relay context switches per txn at " rate "/s", "%.2f", 1)
            row("sat_share", "load tool share of the benchmark CPU at saturation, %", "%.0f", 100)
            row("fixed_share", "load tool share of the benchmark CPU at " rate "/s, %", "%.0f", 100)
            row("sat_other", "CPU used by anything else, saturation run, % of the machine", "%.0f", 100)
            row("fixed_other", "CPU used by anything else, " rate "/s run, % of the machine", "%.0f", 100)
            row("conn_p50_us", "connection setup + transaction, p50 µs", "%.0f", 1)
            row("conn_p99_us", "connection setup + transaction, p99 µs", "%.0f", 1)
            row("sipp_cps", "sipp: calls/s achieved (sipp UAC wall time)", "%.0f", 1)
            row("sipp_cps", "sipp: calls/s achieved, sipwired with tcp_children=1", "%.0f", 1, "", 0, "sipp1_cps")
        }
    }' "$RES"
}

# one row per round and relay
per_round() {
    awk -F'\t' '
    $1 != "cal" { v[$1, $2, $3] = $4; key[$1 SUBSEP $2] = 1; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    END {
        name["sipwired"] = "sipwired"; name["kamailio"] = "Kamailio"; name["pipe"] = "floor (pipe)"
        print "| round | relay | sat txn/s | CPU ms/100k | p50 µs | p99 µs | p99.9 µs | PSS B/conn | setups/s | sipp CPU ms/1k calls | errors sat/fixed/connect/idle/sipp | load tool share sat/fixed | other load sat/fixed |"
        print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        for (i = 1; i <= n; i++) {
            r = order[i]
            for (j = 1; j <= 3; j++) {
                x = (j == 1) ? "sipwired" : (j == 2) ? "kamailio" : "pipe"
                if (!((r, x) in key)) continue
                sipp = sprintf("%.1f", v[r, x, "sipp_cpu_ms_1k"]); se = sprintf("%d", v[r, x, "sipp_failed"])
                if ((r, x, "sipp1_cpu_ms_1k") in v) {
                    sipp = sipp sprintf(" (1 reader: %.1f)", v[r, x, "sipp1_cpu_ms_1k"])
                    se = se sprintf("+%d", v[r, x, "sipp1_failed"])
                }
                printf "| %s | %s | %.0f | %.0f | %s | %s | %s | %.0f | %.0f | %s | %d/%d/%d/%d/%s | %.0f %%/%.0f %% | %.0f %%/%.0f %% |\n",
                    r, name[x], v[r, x, "sat_tps"], v[r, x, "cpu_ms_100k"],
                    v[r, x, "p50_us"], v[r, x, "p99_us"], v[r, x, "p999_us"], v[r, x, "pss_per_conn_b"],
                    v[r, x, "conn_rate"], sipp, v[r, x, "sat_errors"], v[r, x, "fixed_errors"],
                    v[r, x, "conn_errors"], v[r, x, "idle_errors"], se, 100 * v[r, x, "sat_share"],
                    100 * v[r, x, "fixed_share"], 100 * v[r, x, "sat_other"], 100 * v[r, x, "fixed_other"]
            }
        }
    }' "$RES"
}

report() {
    local model kernel mem kv sv rv lv pv
    model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    kernel=$(uname -sr)
    mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    kv=$("$KAMAILIO" -v 2>&1 | head -n 1 | sed 's/^version: //; s/ *$//')
    sv=$("$SIPWIRED" --version)
    rv=$(rustc --version 2>/dev/null || echo "rustc: not on PATH")
    lv=$(cut -d' ' -f1-3 /proc/loadavg)
    # (sipp -v exits with 99)
    pv=$({ "$SIPP" -v 2>&1 || true; } | sed -n 's/^ *\(SIPp v[^ ]*[^ .]\).*/\1/p' | head -n 1)
    cat <<EOF
## Peer benchmark: sipwired vs Kamailio and the floor

Generated by \`make peer-bench\` (\`tools/peer-bench/peer-bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC').
$ROUNDS round(s), each runs sipwired, Kamailio, then the floor (A B C A B C …), each relay
started fresh per round with its own UAS; ${DURATION} s per measurement after a ${WARMUP}-s warmup.
Figures are the median over the rounds, min–max in brackets; each ratio (× Kamailio:
sipwired / Kamailio, × floor: sipwired / floor) is taken per round, then its median and range.

The **floor** is \`sipwire-pipe\` (\`tools/load/src/pipe.rs\`): a TCP byte pipe, one thread,
level-triggered epoll, one 64 KiB copy buffer, no parsing. Each client connection gets its
own upstream connection to the UAS, and bytes are copied both ways as they come. It is the
least work any TCP relay can do, so × floor says how much is left to win. It holds two
connections per client connection (so its memory and connection-setup figures include an
upstream connection each); the probe transaction works through it because the UAS answers.

- **Machine:** $NCPU cores ($model), $mem, $kernel; load average before the run $LOAD_BEFORE, after $lv.
- **Versions:** $kv; $sv (release build of $(date -u -r "$SIPWIRED" '+%Y-%m-%d %H:%M UTC')); $rv; ${pv:-sipp}.
- **Relays:** sipwired and Kamailio both with $READERS readers (sipwired \`tcp_children=$READERS\`, Kamailio
  \`children=$READERS tcp_children=$READERS\`), \`tcp_max_connections=$TCP_MAX_CONNS\`, logging off.
  Kamailio: \`-m $KAM_SHM_MB -M $KAM_PKG_MB -x $KAM_MEM\`, \`tcp_rd_buf_size=$KAM_RD_BUF\`.
  The floor: one thread, whatever READERS is.
- **sipp round:** $SIPP_CALLS calls at $SIPP_RATE calls/s, sipp UAC → relay → sipp UAS, one TCP
  connection each way; sipwired also with \`tcp_children=1\` (the floor's threading).
- **Fixed rate:** $RATE transactions/s ($RATE_HOW).
- **Quiet machine:** before each measurement the script waited up to ${QUIET_WAIT} s for other
  processes to use less than ${QUIET_MAX} % of the machine (the *anything else* rows below show
  what they used during each run).

$(summary main)

### Diagnostics

$(summary diag)

*Load tool share*: CPU of the client and the UAS (both \`sipwire-load\`) over all the CPU the
benchmark used (client, UAS, relay) during the run. *Anything else*: CPU of every other
process on the machine (utime + stime + children's, from \`/proc/*/stat\`, kernel threads
included) during the run, over ${NCPU} cores × the run's wall time.

### Per round

$(per_round)

Errors count lost, timed-out, duplicated and mismatched transactions and broken connections
(idle: 1 if the relay closed any idle connection; sipp: calls that did not succeed, for
sipwired with $READERS readers + with one).

### How each figure is taken

1. **Saturation:** \`sipwire-load --mode uas-only\` closed loop, $SAT_CONNS connections ×
   $SAT_OUTSTANDING transactions in flight, $CLIENT_THREADS client threads, OPTIONS ≈ 405 B,
   to the relay, which forwards to the UAS (\`sipwire-load --mode serve\`, a separate process,
   1 thread); \`rate\` of the JSON report.
2. **CPU per 100 000 transactions:** open loop at $RATE/s, $FIX_CONNS connections; utime + stime
   from \`/proc/PID/stat\` of every process in the relay's process group (each relay is started
   with \`setsid\`; Kamailio's main, TCP main, TCP readers, timers…), read before and after the
   client run, divided by the transactions of the run (measured + the warmup's
   $RATE × $WARMUP). Tick resolution 1/$CLK_TCK s.
3. **Latency:** p50 / p99 / p99.9 of that same run, from the intended send time (the load tool
   corrects for coordinated omission).
4. **Memory per idle connection:** PSS (\`/proc/PID/smaps_rollup\`, summed over the relay's
   processes, so Kamailio's shared memory counts once) with $IDLE_CONNS idle connections held
   open by \`sipwire-load --mode idle\`, minus the PSS of the empty relay (right after start
   and one probe transaction), divided by $IDLE_CONNS. Both are read once settled (within 0.5 %
   for 3 s), the loaded one after the relay holds all the connections (distinct sockets in its
   fd tables). Taken first in each session; the next figure waits until the relay has closed
   them all (no CLOSE-WAIT left). Kernel socket memory is not in PSS, the same for all three.
   The floor holds an upstream connection per client connection, two sockets each: it got
   $PIPE_IDLE_CONNS idle connections (fewer than $IDLE_CONNS only if the open-file limit cannot
   hold twice as many).
5. **Connection setup rate:** \`sipwire-load --mode connect-rate\`, $CONNECT_THREADS threads, each
   connect → one OPTIONS → 200 → close with RST (\`--linger0\`, no TIME_WAIT). The floor opens
   (and closes) an upstream connection for each.
6. **sipp round:** after the four above, the relay is restarted forwarding to a sipp UAS
   (\`sipp -sn uas -t t1\`, in place of the load tool's UAS) and driven by a sipp UAC
   (\`sipp -sn uac -t t1\`: INVITE, 180, 200, ACK, BYE, 200 over one connection) at a fixed
   $SIPP_RATE calls/s, $SIPP_CALLS calls. Relay CPU (as in 2.) read before and after the UAC run,
   per 1 000 calls (1 tick = $(calc "1000000 / $CLK_TCK / $SIPP_CALLS") ms per 1 000 calls here); failed
   calls are the calls of the run that did not succeed (must be 0).
   sipwired runs it twice: with \`tcp_children=$READERS\` and with \`tcp_children=1\`.

On $NCPU cores the relay, the client and the UAS compete for the same CPUs (and with anything
else running on the machine): the load tool's share above is CPU the relay could not use, so
saturation figures are those of this shared setup, not of the relay alone.

### Command lines

\`\$WORK\` is the run's temporary directory, \`\$UAS_PORT\` the port the UAS of the session got
(it listens on port 0; in the sipp round, the sipp UAS's port). Per session: UAS, relay, then
the four client runs in this order; then the sipp round: sipp UAS, relay (sipwired also as
\`sipwired-1\`, \`\$WORK/sipwired-1.cfg\` = \`sipwired.cfg\` with \`tcp_children=1\`), sipp UAC.

\`\`\`
ulimit -n $(ulimit -n)
$(for l in "${CMD_ORDER[@]}"; do [[ -v "CMD[$l]" ]] && printf '%s\n' "${CMD[$l]}"; done)
\`\`\`

### Configurations

\`\$WORK/kamailio.cfg\` (Kamailio):

\`\`\`
$(kamailio_cfg "\$UAS_PORT")
\`\`\`

\`\$WORK/sipwired.cfg\` (sipwired):

\`\`\`
$(cat "$WORK/sipwired.cfg")
\`\`\`
EOF
    if [[ -s $NOTES ]]; then
        printf '\n'
        cat "$NOTES"
    fi
}

# replace (or append) the section in DOC, leaving every other section as it is
write_doc() {
    local doc=$1 section=$2 tmp
    tmp=$(mktemp "$doc.XXXXXX")
    if [[ -f $doc ]]; then
        chmod --reference="$doc" "$tmp"
        awk -v sec="$section" '
            $0 == "## Peer benchmark: sipwired vs Kamailio" || $0 == "## Peer benchmark: sipwired vs Kamailio and the floor" { skip = 1; done = 1; while ((getline l < sec) > 0) print l; print ""; next }
            skip && /^## / { skip = 0 }
            !skip { print }
            END {
                if (!done) { if (NR > 0) print ""; while ((getline l < sec) > 0) print l }
            }' "$doc" >"$tmp"
        # a section that ran to the end of the file leaves one blank line too many
        sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp"
    else
        chmod 644 "$tmp"
        cp "$section" "$tmp"
    fi
    mv "$tmp" "$doc"
}

# ---------------------------------------------------------------------------- main

setup
RATE_HOW="set by RATE"
if [[ ${SIPP_ONLY:-0} == 1 ]]; then
    RATE=${RATE:-0} DOC=
fi
[[ -n $RATE ]] || calibrate
for ((r = 1; r <= ROUNDS; r++)); do
    for relay in "${RELAYS[@]}"; do session "$r" "$relay"; done
done

report >"$WORK/section.md"
cat "$WORK/section.md"
if [[ -n $DOC ]]; then
    write_doc "$DOC" "$WORK/section.md"
    log "wrote the section into $DOC"
fi
