#!/usr/bin/env bash
# tools/sctp-vm/guest-tests.sh — the tests that need kernel SCTP (tools/sctp-vm/tests.list).
#
#   guest-tests.sh --build FILE   on the host: build the cargo test targets of tests.list and write
#                                 their executables to FILE (NAME<TAB>EXECUTABLE<TAB>PACKAGE_DIR)
#   guest-tests.sh --probe        exit 0 when this kernel has SCTP (else 1)
#   guest-tests.sh [FILE]         run every entry of tests.list, the cargo ones from FILE
#                                 (default: $SCTP_VM_RESULTS/tests.bin, as run.sh --put leaves it);
#                                 exit 1 when any failed
# `make sctp-test` does all three: build, then run here or in the guest (tools/sctp-vm/run.sh).
# SCTP_TEST_ARGS: more arguments for every test binary (a name filter, --nocapture, ...).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
list="${SCTP_TESTS_LIST:-$here/tests.list}"  # another list: SCTP_TESTS_LIST=FILE
say() { echo "sctp-tests: $*" >&2; }

entries() { # the entries of tests.list, comments and blank lines dropped
  sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^#/d' -e '/^$/d' "$list"
}

probe() {
  python3 - <<'PY'
import socket, sys
try:
    socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, getattr(socket, "IPPROTO_SCTP", 132)).close()
except OSError:
    sys.exit(1)
PY
}

build() {
  local outfile=$1 tmp entry pkg name json exe
  local cargo=${CARGO:-cargo}
  tmp=$(mktemp)
  trap 'rm -f "$tmp" "$tmp.json"' RETURN
  cd "$root"
  while IFS= read -r entry; do
    case "$entry" in cmd:*) continue ;; esac
    pkg=${entry%%:*} name=${entry#*:}
    if [ -z "$pkg" ] || [ -z "$name" ] || [ "$pkg" = "$entry" ]; then
      say "bad entry in $list: '$entry' (want PACKAGE:TEST, PACKAGE:lib or cmd: COMMAND)"
      return 2
    fi
    if [ "$name" = lib ]; then sel=(--lib); else sel=(--test "$name"); fi
    say "building $entry"
    "$cargo" test --no-run --message-format=json -p "$pkg" "${sel[@]}" >"$tmp.json" ||
      { say "cargo could not build $entry"; return 1; }
    exe=$(python3 - "$tmp.json" <<'PY'
import json, sys
found = []
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        found.append(m["executable"] + "\t" + m["manifest_path"].rsplit("/", 1)[0])
if len(found) != 1:
    sys.exit(f"expected one test executable, cargo reported {len(found)}")
print(found[0])
PY
) || { say "no executable for $entry"; return 1; }
    printf '%s\t%s\n' "$entry" "$exe" >>"$tmp"
  done < <(entries)
  mkdir -p "$(dirname "$outfile")"
  cp "$tmp" "$outfile"
  say "$(wc -l <"$outfile") test executable(s) listed in $outfile"
}

run_all() {
  local bins=$1 entry exe dir rc passed=0 failed=0 failures=() t
  export SIPWIRE_SCTP_REQUIRED=1
  # shellcheck disable=SC2206
  local extra=(${SCTP_TEST_ARGS:-})
  while IFS= read -r entry; do
    t=$SECONDS
    case "$entry" in
      cmd:*)
        say "== $entry"
        (cd "$root" && sh -c "${entry#cmd:}") && rc=0 || rc=$?
        ;;
      *)
        exe=$(awk -F'\t' -v e="$entry" '$1 == e { print $2 }' "$bins" 2>/dev/null || true)
        dir=$(awk -F'\t' -v e="$entry" '$1 == e { print $3 }' "$bins" 2>/dev/null || true)
        say "== $entry ($exe)"
        if [ -z "$exe" ] || [ ! -x "$exe" ]; then
          say "$entry was not built (no executable in $bins): run guest-tests.sh --build first"
          rc=127
        else
          (cd "$dir" && CARGO_MANIFEST_DIR=$dir "$exe" --include-ignored --test-threads=1 \
             ${extra[@]+"${extra[@]}"}) && rc=0 || rc=$?
        fi
        ;;
    esac
    if [ "$rc" = 0 ]; then
      passed=$((passed + 1))
      say "ok   $entry ($((SECONDS - t)) s)"
    else
      failed=$((failed + 1))
      failures+=("$entry")
      say "FAIL $entry (exit $rc, $((SECONDS - t)) s)"
    fi
  done < <(entries)
  [ "$failed" = 0 ] || say "failed: ${failures[*]}"
  echo "sctp-tests: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}

case "${1:-}" in
  --probe) probe ;;
  --build) [ $# = 2 ] || { sed -n '4,11p' "$0" >&2; exit 2; }; build "$2" ;;
  -h|--help) sed -n '2,11p' "$0" ;;
  *)
    bins=${1:-${SCTP_VM_RESULTS:+$SCTP_VM_RESULTS/tests.bin}}
    [ -n "$bins" ] || bins=/dev/null
    run_all "$bins" ;;
esac
