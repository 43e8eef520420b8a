#!/bin/sh
# Captures what a real Kamailio 5.6 answers kamcmd for the methods sipwired must mirror, in a
# known shape of state: TCP on one loopback port, default TCP options, 3 client connections
# open. The output files are the golden files crates/sipwired/tests/kamcmd.rs compares
# sipwired's kamcmd output with, field by field (values that depend on the run — ports,
# connection ids, timeouts, uptime — are compared by shape only).
#
# Usage: tools/kamcmd-golden/capture.sh [OUTDIR]   (default: crates/sipwired/tests/golden/kamcmd)
# Needs Debian's kamailio package (kamailio, kamcmd) and python3.
set -eu
out=${1:-crates/sipwired/tests/golden/kamcmd}
mods=/usr/lib/x86_64-linux-gnu/kamailio/modules
work=$(mktemp -d /tmp/kamcmd-golden.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/kamailio.cfg" <<CFG
#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
disable_sctp=yes
dns=no
rev_dns=no
auto_aliases=no
listen=tcp:127.0.0.1:$port
mpath="$mods"
loadmodule "ctl.so"
loadmodule "cfg_rpc.so"
loadmodule "kex.so"
loadmodule "jsonrpcs.so"
modparam("ctl", "binrpc", "unixs:$work/kamailio_ctl")
modparam("jsonrpcs", "fifo_name", "$work/kamailio_rpc.fifo")
modparam("jsonrpcs", "dgram_socket", "$work/kamailio_rpc.sock")
request_route { drop; }
CFG
kamailio -f "$work/kamailio.cfg" -DD -E -m 64 -M 8 -w "$work" -Y "$work" 2>"$work/kamailio.log" &
kpid=$!
trap 'kill $kpid 2>/dev/null; wait $kpid 2>/dev/null; rm -rf "$work"' EXIT
i=0
until [ -S "$work/kamailio_ctl" ] && kamcmd -s "unixs:$work/kamailio_ctl" core.version >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 100 ] || { cat "$work/kamailio.log"; exit 1; }
  sleep 0.1
done
# Three idle client connections, held open while the state is read.
python3 - "$port" "$work" <<'PY' &
import socket, sys, time, os
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(3)]
for s in socks:
    s.sendall(b"\r\n\r\n")  # a keepalive: the connection is read once (CONN_OK)
open(os.path.join(sys.argv[2], "clients-up"), "w").close()
time.sleep(30)
PY
cpid=$!
i=0
until [ -f "$work/clients-up" ]; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
sleep 0.5
mkdir -p "$out"
k() { kamcmd -s "unixs:$work/kamailio_ctl" "$@"; }
k core.tcp_info > "$out/core.tcp_info.txt"
k core.tcp_options > "$out/core.tcp_options.txt"
k core.tcp_list > "$out/core.tcp_list.txt"
k cfg.get tcp no_connect > "$out/cfg.get.txt"
k cfg.set_now_int tcp tcp_no_connect 1 > "$out/cfg.set_now_int.bad_name.txt"
k cfg.set_now_int tcp no_connect 1 > "$out/cfg.set_now_int.txt"
k cfg.get tcp no_connect > "$out/cfg.get.after.txt"
k stats.get_statistics tcp: > "$out/stats.get_statistics.tcp.txt"
k nosuch.method > "$out/unknown_method.txt"
# kamctl over the jsonrpcs FIFO: what it prints.
kc() { RPCFIFOPATH="$work/kamailio_rpc.fifo" kamctl rpc "$@"; }
kc core.tcp_info > "$out/kamctl.core.tcp_info.txt" 2>&1 || true
kc cfg.get tcp no_connect > "$out/kamctl.cfg.get.txt" 2>&1 || true
kc nosuch.method > "$out/kamctl.unknown_method.txt" 2>&1 || true
kill $cpid 2>/dev/null || true
{
  echo "Captured by tools/kamcmd-golden/capture.sh on $(date -u +%Y-%m-%d)"
  kamailio -v | head -1
  kamcmd -V
  echo "State: TCP listen 127.0.0.1:<port>, default TCP options, 3 client connections"
  echo "(each sent one CRLFCRLF keepalive), tcp_children=1."
} > "$out/README"
echo "golden files in $out"
