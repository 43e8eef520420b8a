#!/usr/bin/env bash
# tools/sctp-vm/bench.sh — the SCTP round of the peer benchmark: sipwired vs Kamailio relaying
# SIPp calls over SCTP, in the QEMU guest of tools/sctp-vm (TCG, 1 vCPU; docs/sctp.md).
#
#   make sctp-bench                      # builds sipwired on the host, runs this in the guest
#   tools/sctp-vm/run.sh --timeout 900 -- tools/sctp-vm/bench.sh
#
# Per round, sipwired then Kamailio (A B A B ...), each session started fresh:
#   1. a SIPp UAS over SCTP (`sipp -sn uas -t s1`);
#   2. the relay (sipwired release build with `--forward sctp:UAS`, or Kamailio's stateless
#      `forward_sctp` config), one worker each: sipwired `tcp_children=1`, Kamailio
#      `children=1 sctp_children=1 tcp_children=1`; each in its own process group (setsid);
#   3. a warmup UAC run (WARMUP calls; it also proves the chain relays);
#   4. the measured UAC run: `sipp -sn uac -t s1` at RATE calls/s for CALLS calls, with
#      `-trace_rtt` (the response time of every 200 to the INVITE: sipp's rtd) and
#      `-trace_stat`; the relay's CPU (utime + stime of every process in its group, from
#      /proc/PID/stat) is read just before and just after it.
# Reported per relay and round: CPU ticks per 1000 calls, median / p90 / mean response time;
# the ratios sipwired/Kamailio per round and overall (median over the rounds). A session
# counts only with zero failed calls. Under TCG absolute numbers mean nothing: the ratios do.
# The markdown table goes to stdout and to $SCTP_VM_RESULTS/sctp-bench.md (when set).
#
# Environment (defaults in brackets):
#   ROUNDS [3]   RATE calls/s [10; see below]   DURATION seconds of a measured run [20]
#   CALLS calls of a measured run [RATE x DURATION]   WARMUP calls before it [RATE x 2]
#   IDLE_SECS the relay's idle CPU is read over, after the warmup [5]
#   RELAYS [sipwired kamailio]   KAM_DEBUG Kamailio's log level [-5]
#   UAS_PORT [35060]   RELAY_PORT [35070]   KEEP=1 (keep the work directory: copied to
#   $SCTP_VM_RESULTS/work in the guest, else left in /tmp)
#   CARGO_TARGET_DIR (where target/release/sipwired is) [ROOT/target]
# Needs kernel SCTP (run it in the guest: `make sctp-bench`).
#
# RATE: under TCG on a 2-core host, 10-s runs gave (guest CPU busy during the Kamailio run):
# 10/s 60 %; 20/s 81-97 % (median response times 20-900 ms from run to run: queueing);
# 30/s 95 %; 40/s 99.5 %, the 10-s schedule took 18.9 s (not sustained). sipwired's runs
# were at 52-83 % over the same rates. 10/s leaves both relays headroom, also when the host
# is busy (TCG then gets less of it); the default 3 rounds take about 4 min in the guest.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${ROUNDS:=3}" "${RATE:=10}" "${DURATION:=20}"
: "${CALLS:=$((RATE * DURATION))}" "${WARMUP:=$((RATE * 2))}"
: "${IDLE_SECS:=5}" "${KAM_DEBUG:=-5}" "${UAS_PORT:=35060}" "${RELAY_PORT:=35070}" "${KEEP:=0}"
read -r -a RELAYS <<<"${RELAYS:-sipwired kamailio}"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SIPWIRED=$TARGET_DIR/release/sipwired
KAMAILIO=/usr/sbin/kamailio
SCTP_MODULE=/usr/lib/x86_64-linux-gnu/kamailio/modules/sctp.so
SIPP=/usr/bin/sipp
CLK_TCK=$(getconf CLK_TCK)
T_START=$SECONDS

log() { printf '[sctp-bench %(%T)T +%ss] %s\n' -1 "$((SECONDS - T_START))" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for v in ROUNDS RATE DURATION CALLS WARMUP IDLE_SECS UAS_PORT RELAY_PORT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
((ROUNDS >= 1 && RATE >= 1 && CALLS >= 1)) || die "ROUNDS, RATE and CALLS must be at least 1"
for r in "${RELAYS[@]}"; do
    [[ $r == sipwired || $r == kamailio ]] || die "RELAYS: unknown relay '$r'"
done
[[ -e /proc/net/sctp/eps ]] ||
    die "this kernel has no SCTP (no /proc/net/sctp): run it in the guest, make sctp-bench"
for f in "$SIPWIRED" "$KAMAILIO" "$SIPP"; do
    [[ -x $f ]] || die "missing $f (sipwired: cargo build --release -p sipwired)"
done
[[ -f $SCTP_MODULE ]] || die "missing $SCTP_MODULE (kamailio-sctp-modules)"
for t in ss setsid ps awk sort timeout; do
    command -v "$t" >/dev/null 2>&1 || die "$t is needed"
done

# ---------------------------------------------------------------------------- state

WORK=$(mktemp -d /tmp/sctp-bench.XXXXXX)
RES=$WORK/results.tsv # round <TAB> relay <TAB> metric <TAB> value
: >"$RES"
UAS_PID=""
UAC_PID=""
RELAY_PID="" # the relay's process group leader (started with setsid)
SESSION=0

# stop_group PGID SIGNAL SECONDS: SIGNAL to the process group, wait up to SECONDS for all of it
# to be gone, then SIGKILL what is left
stop_group() {
    local g=$1 sig=$2 secs=$3 deadline
    deadline=$(($(now_ms) + secs * 1000))
    kill "-$sig" -- "-$g" 2>/dev/null || true
    while [[ -n $(group_pids "$g") ]] && (($(now_ms) < deadline)); do sleep 0.1; done
    kill -KILL -- "-$g" 2>/dev/null || true
    wait "$g" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $UAC_PID ]] && stop_group "$UAC_PID" KILL 1
    [[ -n $RELAY_PID ]] && stop_relay
    [[ -n $UAS_PID ]] && stop_uas
    if [[ $KEEP == 1 && -n ${SCTP_VM_RESULTS:-} && -d ${SCTP_VM_RESULTS:-} ]]; then
        cp -a "$WORK" "$SCTP_VM_RESULTS/work" && rm -rf "$WORK"
        log "work directory kept: $SCTP_VM_RESULTS/work"
    elif [[ $KEEP == 1 ]]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "error: a command failed (exit $?) at line $LINENO"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- helpers

now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 50 ms until it succeeds; fail after
# SECONDS, or at once when the relay or the UAS (if started) died meanwhile.
wait_until() {
    local secs=$1 what=$2
    shift 2
    local deadline=$(($(now_ms) + secs * 1000))
    until "$@"; do
        if [[ -n $RELAY_PID ]] && ! kill -0 "$RELAY_PID" 2>/dev/null; then
            tail -n 20 "$SDIR/relay.err" >&2 || true
            die "the relay exited while waiting for: $what"
        fi
        if [[ -n $UAS_PID ]] && ! kill -0 "$UAS_PID" 2>/dev/null; then
            tail -n 20 "$SDIR/uas.out" >&2 || true
            die "the sipp UAS exited while waiting for: $what"
        fi
        (($(now_ms) < deadline)) || die "timed out after ${secs}s waiting for: $what"
        sleep 0.2
    done
}

put() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }

# get ROUND RELAY METRIC: a recorded value (empty when none)
get() { awk -F'\t' -v r="$1" -v s="$2" -v m="$3" '$1 == r && $2 == s && $3 == m { v = $4 } END { print v }' "$RES"; }

calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

# an SCTP endpoint listens on PORT (LPORT, the 6th column of /proc/net/sctp/eps)
sctp_listening() { awk -v p="$1" 'NR > 1 && $6 == p { f = 1 } END { exit !f }' /proc/net/sctp/eps; }
tcp_listening() { [[ -n $(ss -Hltn "( sport = :$1 )") ]]; }

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
pid_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# the guest's busy and total time (all CPUs, ticks) from /proc/stat
cpu_total() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

own_group() { [[ $(ps -o pgid= -p "$1" | tr -d ' ') == "$1" ]]; }

# the cumulative column of a sipp final-screen counter ("Successful call | a | b")
sipp_counter() {
    awk -F'|' -v n="$1" 'index($1, n) { v = $3 } END { gsub(/ /, "", v); print v }' "$2"
}

# ---------------------------------------------------------------------------- processes

start_uas() {
    local cmd=("$SIPP" -sn uas -t s1 -i 127.0.0.1 -p "$UAS_PORT" -max_socket 200 -nostdin)
    echo "${cmd[*]}" >"$WORK/cmd.uas"
    sctp_listening "$UAS_PORT" && die "SCTP port $UAS_PORT is already in use (set UAS_PORT)"
    # its own process group (setsid), so that it is stopped with everything it may fork
    (cd "$SDIR" && exec setsid "${cmd[@]}" >"$SDIR/uas.out" 2>"$SDIR/uas.err" </dev/null) &
    UAS_PID=$!
    wait_until 30 "the sipp UAS to listen on SCTP port $UAS_PORT" sctp_listening "$UAS_PORT"
}

stop_uas() { # sipp quits on SIGUSR1 (it ignores SIGTERM while it runs)
    stop_group "$UAS_PID" USR1 10
    UAS_PID=""
}

sipwired_cfg() {
    cat <<EOF
# sctp-bench: sipwired with one reader, an SCTP endpoint, a TCP listener (it needs one)
listen=tcp:127.0.0.1:0
listen=sctp:127.0.0.1:$RELAY_PORT
tcp_children=1
EOF
}

kamailio_cfg() { # kamailio_cfg TCP_PORT
    cat <<EOF
#!KAMAILIO
# sctp-bench: stateless SCTP forwarder (every request to the UAS with forward_sctp();
# replies go back statelessly by their Via, no tm), one process per role.
debug=$KAM_DEBUG
log_stderror=yes
children=1
sctp_children=1
tcp_children=1
disable_tcp=no
enable_sctp=yes
dns=no
rev_dns=no
auto_aliases=no
listen=sctp:127.0.0.1:$RELAY_PORT
listen=tcp:127.0.0.1:$1
loadmodule "$SCTP_MODULE"

request_route {
    forward_sctp("127.0.0.1", $UAS_PORT);
    exit;
}
EOF
}

start_relay() {
    local relay=$1 cmd
    sctp_listening "$RELAY_PORT" && die "SCTP port $RELAY_PORT is already in use (set RELAY_PORT)"
    case $relay in
    sipwired)
        sipwired_cfg >"$SDIR/sipwired.cfg"
        cmd=("$SIPWIRED" -f "$SDIR/sipwired.cfg" --forward "sctp:127.0.0.1:$UAS_PORT"
            --ctl "$SDIR/ctl.sock")
        ;;
    kamailio)
        KAM_TCP_PORT=$((RELAY_PORT + 1))
        tcp_listening "$KAM_TCP_PORT" && die "TCP port $KAM_TCP_PORT is already in use (set RELAY_PORT)"
        kamailio_cfg "$KAM_TCP_PORT" >"$SDIR/kamailio.cfg"
        cmd=("$KAMAILIO" -DD -E -f "$SDIR/kamailio.cfg" -m 64 -M 8 -w "$SDIR" -Y "$SDIR")
        ;;
    esac
    echo "setsid ${cmd[*]}" >"$WORK/cmd.$relay"
    # setsid: the relay and all its processes form one process group, over which its CPU is
    # summed (Kamailio forks a process per role).
    setsid "${cmd[@]}" >"$SDIR/relay.out" 2>"$SDIR/relay.err" </dev/null &
    RELAY_PID=$!
    wait_until 10 "$relay to lead its own process group" own_group "$RELAY_PID"
    wait_until 60 "$relay to listen on SCTP port $RELAY_PORT" sctp_listening "$RELAY_PORT"
    case $relay in
    sipwired) wait_until 60 "sipwired to print ready" grep -qx ready "$SDIR/relay.out" ;;
    kamailio) wait_until 60 "kamailio to listen on TCP port $KAM_TCP_PORT" tcp_listening "$KAM_TCP_PORT" ;;
    esac
}

stop_relay() { # SIGTERM to the leader (Kamailio's main process stops its children)
    local deadline=$(($(now_ms) + 15000))
    kill -TERM "$RELAY_PID" 2>/dev/null || true
    while [[ -n $(group_pids "$RELAY_PID") ]] && (($(now_ms) < deadline)); do sleep 0.1; done
    kill -KILL -- "-$RELAY_PID" 2>/dev/null || true
    wait "$RELAY_PID" 2>/dev/null || true
    RELAY_PID=""
}

# run_uac NAME CALLS LOCAL_PORT: a sipp UAC through the relay, with deadlines: sipp's own
# -timeout, then `timeout` 30 s later (SIGUSR1, sipp's quit; SIGKILL 5 s after that). It runs in
# its own process group and is waited for without polling (nothing else runs in the guest
# meanwhile). Sets UAC_RC, UAC_OK, UAC_FAILED, UAC_SECS.
run_uac() {
    local name=$1 calls=$2 port=$3 t0 secs
    secs=$((calls / RATE * 3 + 30)) # sipp's deadline: three times the schedule, plus 30 s
    local cmd=("$SIPP" -sn uac -t s1 "127.0.0.1:$RELAY_PORT" -s service -i 127.0.0.1 -p "$port"
        -r "$RATE" -m "$calls" -max_socket 2000 -recv_timeout 10000
        -timeout "${secs}s" -timeout_error -nostdin
        -trace_rtt -rtt_freq 1 -trace_stat -fd 5)
    [[ $name == measured ]] && echo "${cmd[*]}" >"$WORK/cmd.uac"
    mkdir -p "$SDIR/$name"
    t0=$(now_ms)
    (cd "$SDIR/$name" && exec setsid timeout -s USR1 -k 5 $((secs + 30)) "${cmd[@]}" \
        >uac.out 2>uac.err </dev/null) &
    UAC_PID=$!
    UAC_RC=0
    wait "$UAC_PID" || UAC_RC=$?
    UAC_PID=""
    UAC_SECS=$(calc "($(now_ms) - $t0) / 1000")
    UAC_OK=$(sipp_counter "Successful call" "$SDIR/$name/uac.out")
    UAC_FAILED=$(sipp_counter "Failed call" "$SDIR/$name/uac.out")
    : "${UAC_OK:=0}" "${UAC_FAILED:=unknown}"
}

# response times (ms) of the run in DIR: median, p90, mean, count (sipp's rtd, 1 ms resolution)
rtt_stats() {
    local f
    f=$(ls "$1"/uac_*_rtt.csv 2>/dev/null | head -n 1)
    [[ -n $f ]] || {
        echo "- - - 0"
        return
    }
    awk -F';' 'NR > 1 && $2 != "" { print $2 }' "$f" | sort -g |
        awk '{ v[NR] = $1; s += $1 }
             END {
                 if (NR == 0) { print "- - - 0"; exit }
                 m = int((NR + 1) / 2); p = int(NR * 0.9 + 0.999999); if (p < 1) p = 1
                 printf "%s %s %.3f %d\n", (NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2), v[p], s / NR, NR
             }'
}

# ---------------------------------------------------------------------------- one session

session() {
    local round=$1 relay=$2 c0 c1 u0 u1 b0 t0 b1 t1 ticks
    SESSION=$((SESSION + 1))
    SDIR=$WORK/s$SESSION-$relay
    mkdir -p "$SDIR"
    log "round $round: $relay"
    start_uas
    start_relay "$relay"

    run_uac warmup "$WARMUP" $((40000 + SESSION * 2))
    if [[ $UAC_RC != 0 || $UAC_FAILED != 0 || $UAC_OK != "$WARMUP" ]]; then
        tail -n 30 "$SDIR/warmup/uac.out" >&2 || true
        tail -n 20 "$SDIR/relay.err" >&2 || true
        log "warning: $relay warmup: sipp exit $UAC_RC, $UAC_OK of $WARMUP calls, $UAC_FAILED failed"
        put "$round" "$relay" warmup_failed "$UAC_FAILED"
    fi

    # the relay's CPU while idle (its timers), after the warmup: a diagnostic
    if ((IDLE_SECS > 0)); then
        c0=$(cpu_ticks "$RELAY_PID")
        sleep "$IDLE_SECS"
        c1=$(cpu_ticks "$RELAY_PID")
        put "$round" "$relay" idle_tps "$(calc "($c1 - $c0) / $IDLE_SECS")"
    fi

    c0=$(cpu_ticks "$RELAY_PID")
    u0=$(pid_ticks "$UAS_PID")
    read -r b0 t0 < <(cpu_total)
    run_uac measured "$CALLS" $((40000 + SESSION * 2 + 1))
    c1=$(cpu_ticks "$RELAY_PID")
    u1=$(pid_ticks "$UAS_PID")
    read -r b1 t1 < <(cpu_total)
    kill -0 "$RELAY_PID" 2>/dev/null || die "$relay died during the run"
    ticks=$((c1 - c0))

    local med p90 mean n
    read -r med p90 mean n < <(rtt_stats "$SDIR/measured")
    put "$round" "$relay" ok "$UAC_OK"
    put "$round" "$relay" failed "$UAC_FAILED"
    put "$round" "$relay" sipp_rc "$UAC_RC"
    put "$round" "$relay" secs "$UAC_SECS"
    put "$round" "$relay" ticks "$ticks"
    put "$round" "$relay" uas_ticks $((u1 - u0))
    put "$round" "$relay" busy "$(calc "100 * ($b1 - $b0) / ($t1 - $t0)")"
    put "$round" "$relay" rtt_n "$n"
    local valid=1
    if [[ $UAC_RC != 0 || $UAC_FAILED != 0 || $UAC_OK != "$CALLS" || $n != "$CALLS" ]]; then
        valid=0
        tail -n 40 "$SDIR/measured/uac.out" >&2 || true
        log "warning: $relay round $round does not count: sipp exit $UAC_RC, $UAC_OK of $CALLS calls, $UAC_FAILED failed, $n response times"
    fi
    put "$round" "$relay" valid "$valid"
    if ((valid)); then
        put "$round" "$relay" cpu_per_1k "$(calc "$ticks * 1000 / $CALLS")"
        put "$round" "$relay" rt_med "$med"
        put "$round" "$relay" rt_p90 "$p90"
        put "$round" "$relay" rt_mean "$mean"
    fi
    log "$relay: $UAC_OK ok / $UAC_FAILED failed in ${UAC_SECS}s, relay $ticks ticks ($(calc "$ticks * 1000 / $CALLS") per 1000 calls), UAS $((u1 - u0)) ticks, guest busy $(get "$round" "$relay" busy) %, response time median $med ms, p90 $p90 ms, mean $mean ms"

    local s0=$SECONDS
    stop_relay
    log "$relay stopped in $((SECONDS - s0)) s"
    if [[ $relay == sipwired ]]; then
        grep -h '^sipwired: stopped' "$SDIR/relay.out" | sed 's/^/    /' >&2 || true
    fi
    s0=$SECONDS
    stop_uas
    log "UAS stopped in $((SECONDS - s0)) s"
}

# ---------------------------------------------------------------------------- report

# median of the numbers on stdin ("-" and empty lines ignored)
median() { awk '$1 != "-" && $1 != "" { print $1 }' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

ratio() { # ratio A B: A/B to 3 decimals, "-" when either is missing or B is 0
    if [[ $1 == "-" || $2 == "-" || -z $1 || -z $2 ]] || awk -v b="$2" 'BEGIN { exit !(b == 0) }'; then
        echo "-"
    else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
    fi
}

fmt() { [[ -z $1 || $1 == "-" ]] && echo "-" || awk -v v="$1" 'BEGIN { printf "%.4g", v }'; }

report() {
    local r relay v both="${#RELAYS[@]}"
    local k_cpu=() k_med=() k_p90=() k_mean=()
    echo "## SCTP peer benchmark: sipwired vs Kamailio (QEMU guest, TCG, 1 vCPU)"
    echo
    echo "*Under TCG (an emulated CPU) the absolute numbers mean nothing: **the ratios sipwired/Kamailio"
    echo "are the result.** $RATE calls/s, $CALLS calls per measured run (after $WARMUP warmup calls),"
    echo "$ROUNDS rounds A B A B; SIPp UAC → relay → SIPp UAS, every hop SCTP (\`-t s1\`). CPU: utime +"
    echo "stime of all the relay's processes (/proc/PID/stat, 1/$CLK_TCK s ticks) over the measured run."
    echo "Response time: SIPp's rtd, INVITE sent → 200 received (1 ms resolution). A round counts only"
    echo "with zero failed calls. Guest CPU busy: the whole guest's busy share during the run (/proc/stat);"
    echo "near 100 % the response times are mostly queueing.*"
    echo
    echo "sipwired: \`${SIPWIRED#"$ROOT"/}\` sha256 $SIPWIRED_ID, work tree at $GIT_HEAD;"
    echo "${KAM_VERSION:-kamailio ?} (+ kamailio-sctp-modules); SIPp ${SIPP_VERSION:-?}; guest kernel $(uname -r), $(nproc) vCPU."
    echo
    echo "| round | relay | calls ok / failed | relay CPU ticks | ticks / 1000 calls | response time median (ms) | p90 (ms) | mean (ms) | guest CPU busy | run time (s) | relay idle ticks/s |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for ((r = 1; r <= ROUNDS; r++)); do
        for relay in "${RELAYS[@]}"; do
            local note=""
            [[ $(get "$r" "$relay" valid) == 1 ]] || note=" (does not count)"
            printf '| %s | %s%s | %s / %s | %s | %s | %s | %s | %s | %s %% | %s | %s |\n' "$r" "$relay" "$note" \
                "$(get "$r" "$relay" ok)" "$(get "$r" "$relay" failed)" "$(get "$r" "$relay" ticks)" \
                "$(fmt "$(get "$r" "$relay" cpu_per_1k)")" "$(fmt "$(get "$r" "$relay" rt_med)")" \
                "$(fmt "$(get "$r" "$relay" rt_p90)")" "$(fmt "$(get "$r" "$relay" rt_mean)")" \
                "$(fmt "$(get "$r" "$relay" busy)")" "$(fmt "$(get "$r" "$relay" secs)")" \
                "$(fmt "$(get "$r" "$relay" idle_tps)")"
        done
    done
    if ((both == 2)); then
        echo
        echo "| round | CPU per call, sipwired/Kamailio | median response time, sipwired/Kamailio | p90 response time, sipwired/Kamailio | mean response time, sipwired/Kamailio |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        for ((r = 1; r <= ROUNDS; r++)); do
            local a b rc rm rp rn
            if [[ $(get "$r" sipwired valid) == 1 && $(get "$r" kamailio valid) == 1 ]]; then
                rc=$(ratio "$(get "$r" sipwired cpu_per_1k)" "$(get "$r" kamailio cpu_per_1k)")
                rm=$(ratio "$(get "$r" sipwired rt_med)" "$(get "$r" kamailio rt_med)")
                rp=$(ratio "$(get "$r" sipwired rt_p90)" "$(get "$r" kamailio rt_p90)")
                rn=$(ratio "$(get "$r" sipwired rt_mean)" "$(get "$r" kamailio rt_mean)")
                k_cpu+=("$rc") k_med+=("$rm") k_p90+=("$rp") k_mean+=("$rn")
            else
                rc="- (round does not count)" rm="-" rp="-" rn="-"
            fi
            printf '| %s | %s | %s | %s | %s |\n' "$r" "$rc" "$rm" "$rp" "$rn"
        done
        printf '| **overall (median of %s counted rounds)** | **%s** | **%s** | **%s** | **%s** |\n' "${#k_cpu[@]}" \
            "$(printf '%s\n' "${k_cpu[@]}" | median)" "$(printf '%s\n' "${k_med[@]}" | median)" \
            "$(printf '%s\n' "${k_p90[@]}" | median)" "$(printf '%s\n' "${k_mean[@]}" | median)"
    fi
    echo
    echo "Medians over the counted rounds, per relay:"
    echo
    echo "| relay | counted rounds | ticks / 1000 calls | response time median (ms) | p90 (ms) | mean (ms) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for relay in "${RELAYS[@]}"; do
        local n=0 cpu=() med=() p90=() mean=()
        for ((r = 1; r <= ROUNDS; r++)); do
            [[ $(get "$r" "$relay" valid) == 1 ]] || continue
            n=$((n + 1))
            cpu+=("$(get "$r" "$relay" cpu_per_1k)") med+=("$(get "$r" "$relay" rt_med)")
            p90+=("$(get "$r" "$relay" rt_p90)") mean+=("$(get "$r" "$relay" rt_mean)")
        done
        printf '| %s | %s | %s | %s | %s | %s |\n' "$relay" "$n" \
            "$(fmt "$(printf '%s\n' "${cpu[@]}" | median)")" "$(fmt "$(printf '%s\n' "${med[@]}" | median)")" \
            "$(fmt "$(printf '%s\n' "${p90[@]}" | median)")" "$(fmt "$(printf '%s\n' "${mean[@]}" | median)")"
    done
    echo
    echo "Command lines (\`\$WORK\` a temporary directory in the guest's /tmp):"
    echo
    echo '```'
    local f
    for f in uas sipwired kamailio uac; do
        [[ -f $WORK/cmd.$f ]] && sed -e "s#$WORK/s[0-9]*-[a-z]*#\$WORK#g" "$WORK/cmd.$f"
    done
    echo '```'
}

# ---------------------------------------------------------------------------- main

SIPWIRED_ID="$(sha256sum "$SIPWIRED" | cut -c1-12), built $(date -r "$SIPWIRED" '+%F %T')"
GIT_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
KAM_VERSION=$({ "$KAMAILIO" -v 2>/dev/null || true; } | sed -n 's/^version: \(.*[^ ]\) *$/\1/p' | head -n 1)
SIPP_VERSION=$({ "$SIPP" -v 2>/dev/null || true; } | sed -n 's/^ *SIPp \(v[^ ]*[^ .]\).*/\1/p' | head -n 1)
log "sipwired $SIPWIRED_ID (HEAD $GIT_HEAD); Kamailio $KAM_VERSION; SIPp $SIPP_VERSION"
log "ROUNDS=$ROUNDS RATE=$RATE/s CALLS=$CALLS WARMUP=$WARMUP RELAYS=${RELAYS[*]}; kernel $(uname -r), $(nproc) CPU(s)"
for ((r = 1; r <= ROUNDS; r++)); do
    for relay in "${RELAYS[@]}"; do session "$r" "$relay"; done
done
report >"$WORK/table.md"
cat "$WORK/table.md"
if [[ -n ${SCTP_VM_RESULTS:-} && -d ${SCTP_VM_RESULTS:-} ]]; then
    cp "$WORK/table.md" "$SCTP_VM_RESULTS/sctp-bench.md"
    log "table written to $SCTP_VM_RESULTS/sctp-bench.md"
fi
failed=0
for ((r = 1; r <= ROUNDS; r++)); do
    for relay in "${RELAYS[@]}"; do [[ $(get "$r" "$relay" valid) == 1 ]] || failed=$((failed + 1)); done
done
((failed == 0)) || {
    log "$failed session(s) had failed calls and do not count"
    exit 1
}
log "done in $((SECONDS - T_START)) s"
