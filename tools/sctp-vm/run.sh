#!/usr/bin/env bash
# tools/sctp-vm/run.sh — run one command in a QEMU guest whose kernel has SCTP, on this machine's
# own root file system (shared read-only over 9p and chroot'ed into), from the caller's working
# directory. See docs/sctp.md.
#
#   tools/sctp-vm/run.sh [OPTIONS] -- COMMAND [ARGS...]
#     --timeout SECS       from qemu's start, boot included (default 300; SCTP_VM_TIMEOUT)
#     --boot-timeout SECS  until the command starts (default 120; SCTP_VM_BOOT_TIMEOUT)
#     --env NAME[=VALUE]   pass a variable into the guest (repeatable)
#     --tmpfs DIR          a fresh writable tmpfs on DIR in the guest (repeatable; made on the
#                          host if missing: the guest's root is read-only)
#     --put FILE           copy FILE into the run's results folder ($SCTP_VM_RESULTS in the guest)
#     --quiet              keep the guest console in the log; print it only on failure
#     --keep               keep the results folder even when the command succeeded
# Exit status: COMMAND's own; 124 when the timeout ran out (qemu killed); 125 when the guest did
# not come up or the command did not run (the console log is printed); 2 for bad usage.
# Environment: SCTP_VM_SMP (default 1), SCTP_VM_MEM (MiB, default 1024), SCTP_VM_ACCEL (tcg|kvm;
# default tcg where /dev/kvm is kvm_pvm or absent), SCTP_VM_APPEND (more kernel arguments).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${SCTP_VM_OUT:-$root/target/sctp-vm}"

t0=${EPOCHREALTIME/,/.}
elapsed() { awk -v a="$t0" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "sctp-vm: $*" >&2; }
usage() { sed -n '6,18p' "$0" >&2; exit 2; }

timeout_s=${SCTP_VM_TIMEOUT:-300}
boot_timeout_s=${SCTP_VM_BOOT_TIMEOUT:-120}
quiet=0
keep=0
envs=()
tmpfs_dirs=()
puts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --timeout=*) timeout_s=${1#*=}; shift ;;
    --boot-timeout) [ $# -ge 2 ] || usage; boot_timeout_s=$2; shift 2 ;;
    --env) [ $# -ge 2 ] || usage; envs+=("$2"); shift 2 ;;
    --tmpfs) [ $# -ge 2 ] || usage; tmpfs_dirs+=("$2"); shift 2 ;;
    --put) [ $# -ge 2 ] || usage; puts+=("$2"); shift 2 ;;
    --quiet) quiet=1; shift ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) say "unknown option $1 (the command goes after --)"; usage ;;
  esac
done
[ $# -ge 1 ] || { say "no command given"; usage; }
cmd_str="$*"
case "$timeout_s$boot_timeout_s" in *[!0-9]*) say "timeouts are whole seconds"; exit 2 ;; esac
[ "$boot_timeout_s" -le "$timeout_s" ] || boot_timeout_s=$timeout_s

# 1. Kernel and initramfs (quiet when up to date).
if ! "$here/prepare.sh" -q; then
  say "prepare.sh failed: the guest cannot be built (exit 125)"
  exit 125
fi

# 2. This run's results folder: shared read-write into the guest at the same path.
cwd=$(pwd -P)
results="$out/run-$$"
case "$results$cwd" in *[[:space:]]*) say "paths with blanks are not supported: $results, $cwd"; exit 2 ;; esac
rm -rf "$results"
mkdir -p "$results"
# Old run folders: keep the 5 newest, and any whose run.sh is still alive.
ls -1dt "$out"/run-* 2>/dev/null | tail -n +6 | while read -r d; do
  p=${d##*/run-}
  case "$p" in *[!0-9]*) continue ;; esac
  kill -0 "$p" 2>/dev/null || rm -rf "$d"
done || true

for f in ${puts[@]+"${puts[@]}"}; do
  [ -f "$f" ] || { say "--put $f: no such file"; exit 2; }
  cp "$f" "$results/"
done
: >"$results/tmpfs.list"
for d in ${tmpfs_dirs[@]+"${tmpfs_dirs[@]}"}; do
  case "$d" in /*) ;; *) d="$cwd/$d" ;; esac
  mkdir -p "$d"
  d=$(cd "$d" && pwd -P)
  echo "$d" >>"$results/tmpfs.list"
done

q() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

# pyenv's shims are bash scripts that fork a dozen helpers: ~5 s per `python3` under TCG. When
# python3 on PATH is a shim, put the interpreter it resolves to here (same working directory,
# same PYENV_VERSION) first on the guest's PATH. SCTP_VM_PYENV_RESOLVE=0 turns this off.
guest_path=$PATH
py=$(command -v python3 2>/dev/null || true)
if [ "${SCTP_VM_PYENV_RESOLVE:-1}" = 1 ] && [[ "$py" == */shims/python3 ]] && command -v pyenv >/dev/null 2>&1; then
  if real=$(timeout 20 pyenv which python3 2>/dev/null) && [ -x "$real" ]; then
    guest_path="$(dirname "$real"):$PATH"
  fi
fi
{
  echo "# written by tools/sctp-vm/run.sh for one run; executed by /init in the guest"
  for kv in "PATH=$guest_path" HOME=/tmp TMPDIR=/tmp USER=root LOGNAME=root LANG=C.UTF-8 \
            SIPWIRE_SCTP_REQUIRED=1 SCTP_VM_GUEST=1 "SCTP_VM_RESULTS=$results"; do
    echo "export $(q "$kv")"
  done
  # Passed through when set: the Rust test knobs and every SIPWIRE_* variable.
  while IFS= read -r name; do
    case "$name" in SIPWIRE_SCTP_REQUIRED|'') continue ;; esac
    echo "export $(q "$name=${!name}")"
  done < <(compgen -e | grep -E '^(SIPWIRE_[A-Za-z0-9_]*|RUST_BACKTRACE|RUST_LOG|RUST_TEST_[A-Z_]+|RUST_MIN_STACK|NO_COLOR|CARGO_TERM_COLOR|CI)$' || true)
  for e in ${envs[@]+"${envs[@]}"}; do
    case "$e" in
      *=*) echo "export $(q "$e")" ;;
      *) if [ -n "${!e+x}" ]; then echo "export $(q "$e=${!e}")"; fi ;;
    esac
  done
  echo "cd $(q "$cwd") || { echo $(q "sctp-vm: cannot cd to $cwd in the guest") >&2; exit 125; }"
  printf 'exec'
  for a in "$@"; do printf ' %s' "$(q "$a")"; done
  echo
} >"$results/cmd.sh"

# 3. Accelerator: TCG unless /dev/kvm is real KVM (kvm_pvm, nested in software, crawls).
accel=${SCTP_VM_ACCEL:-}
if [ -z "$accel" ]; then
  if [ -w /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ]; then accel=kvm; else accel=tcg; fi
fi
case "$accel" in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  tcg) accel_args=(-accel tcg -cpu max) ;;
  *) say "SCTP_VM_ACCEL must be tcg or kvm, not $accel"; exit 2 ;;
esac

kernel="$out/vmlinux"  # uncompressed, PVH entry: boots ~7 s sooner under TCG than vmlinuz
[ -s "$kernel" ] || kernel="$out/vmlinuz"
console="$results/console.log"
qlog="$results/qemu.log"
: >"$console"
qemu=(qemu-system-x86_64 "${accel_args[@]}" -M pc -smp "${SCTP_VM_SMP:-1}" -m "${SCTP_VM_MEM:-1024}"
  -nodefaults -no-user-config -nic none -display none -no-reboot
  -chardev "file,id=con,path=$console" -serial chardev:con
  -kernel "$kernel" -initrd "$out/initrd.img"
  -append "console=ttyS0 quiet loglevel=3 panic=-1 ${SCTP_VM_APPEND:-} sipwire.results=$results"
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$results,mount_tag=results,security_model=none,multidevs=remap")
printf '%q ' "${qemu[@]}" >"$results/qemu.cmdline"
echo >>"$results/qemu.cmdline"

qpid=""
spid=""
cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    kill -TERM "$qpid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qpid" 2>/dev/null || true
  fi
  if [ -n "$spid" ]; then kill "$spid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

"${qemu[@]}" </dev/null >"$qlog" 2>&1 &
qpid=$!
base=$SECONDS
if [ "$quiet" = 0 ]; then
  # Stream the console while qemu lives (tail --pid ends after a last read once it is gone).
  tail -n +1 -f --pid="$qpid" "$console" 2>/dev/null |
    sed -u -e 's/\r$//' -e '/^\[ *[0-9.]*\] reboot: Power down$/d' >&2 &
  spid=$!
fi

# 4. Wait, with deadlines: the command must start within the boot timeout, and all must be over
#    within the timeout.
verdict=""
started_at=""
while kill -0 "$qpid" 2>/dev/null; do
  now=$((SECONDS - base))
  if [ -z "$started_at" ] && [ -e "$results/started" ]; then
    started_at=$(elapsed)
    [ "$quiet" = 1 ] || say "guest up, command started ${started_at}s after run.sh began"
  fi
  if [ -z "$started_at" ] && [ "$now" -ge "$boot_timeout_s" ]; then verdict=boot-timeout; break; fi
  if [ "$now" -ge "$timeout_s" ]; then verdict=timeout; break; fi
  sleep 0.1
done
if [ -n "$verdict" ]; then
  kill -KILL "$qpid" 2>/dev/null || true
fi
wait "$qpid" 2>/dev/null && qrc=0 || qrc=$?
qpid=""
if [ -n "$spid" ]; then
  for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  spid=""
fi
[ -z "$started_at" ] && [ -e "$results/started" ] && started_at=$(elapsed)

# finish CODE VERDICT: in --quiet mode the console first, then what qemu said, the verdict last.
finish() {
  local code=$1
  shift
  if [ "$quiet" = 1 ]; then
    say "guest console ($console):"
    sed -e 's/\r$//' "$console" >&2
  fi
  if [ -s "$qlog" ]; then say "qemu said:"; sed 's/^/  /' "$qlog" >&2; fi
  say "guest console log: $console; qemu command line: $results/qemu.cmdline"
  say "$*"
  exit "$code"
}

case "$verdict" in
  timeout)
    if [ -n "$started_at" ]; then
      finish 124 "TIMEOUT: '$cmd_str' was still running at --timeout ${timeout_s}s (it started at ${started_at}s); qemu killed (exit 124)"
    fi
    finish 124 "TIMEOUT: the guest had not started the command at --timeout ${timeout_s}s; qemu killed (exit 124)" ;;
  boot-timeout)
    finish 125 "GUEST DID NOT COME UP: the command had not started after --boot-timeout ${boot_timeout_s}s; qemu killed (exit 125)" ;;
esac

if [ -s "$results/status" ]; then
  rc=$(cat "$results/status")
  case "$rc" in ''|*[!0-9]*) finish 125 "unreadable status '$rc' in $results/status (exit 125)" ;; esac
  if [ "$rc" != 0 ]; then
    finish "$rc" "COMMAND FAILED: '$cmd_str' exited with status $rc in the guest ($(elapsed)s in all)"
  fi
  [ "$quiet" = 1 ] || say "command exited 0 after $(elapsed)s in all"
  # Nothing but our own files in the results folder: remove it (unless --keep).
  extra=$(ls -A "$results" | grep -vxE 'cmd.sh|console.log|qemu.log|qemu.cmdline|started|finished|status|tmpfs.list' || true)
  [ "$keep" = 1 ] || [ -n "$extra" ] || rm -rf "$results"
  exit 0
fi
if [ -n "$started_at" ]; then
  finish 125 "COMMAND DID NOT FINISH: '$cmd_str' started at ${started_at}s but the guest stopped (qemu exit $qrc) without reporting its status: kernel panic or power-off from inside? (exit 125)"
fi
finish 125 "GUEST DID NOT COME UP: qemu exited ($qrc) before the command started (exit 125)"
