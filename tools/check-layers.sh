#!/usr/bin/env bash
# The layering rules of docs/architecture.md, checked (run by `make lint`, so by `make test`):
#   1. crates depend only on crates of a lower floor (normal dependencies; testkit is dev-only);
#   2. `unsafe` appears only in crates/sys, crates/poll and crates/ffi (the C ABI), and every
#      other crate root forbids it;
#   3. one poll-method enum in the workspace;
#   4. no source file holds more than MAX_LINES lines of non-test code.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_LINES=${MAX_LINES:-600}
fail=0
err() { echo "check-layers: $*" >&2; fail=1; }

declare -A floor=(
    [sipwire-sys]=0
    [sipwire-poll]=1 [sipwire-frame]=1
    [sipwire-config]=2 [sipwire-load]=2
    [sipwire-sctp]=3
    [sipwire]=4
    [sipwire-control]=5
    [sipwired]=6 [sipwire-ffi]=6 [sipwire-ctl]=6
    [sipwire-testkit]=7
    [sipwire-benches]=8
)

meta=$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null || cargo metadata --no-deps --format-version 1)
members=$(jq -r '.packages[].name' <<<"$meta")
for p in $members; do
    [[ -n ${floor[$p]+x} ]] || { err "$p has no floor in tools/check-layers.sh (add it)"; continue; }
    while read -r dep; do
        [[ -n ${floor[$dep]+x} ]] || continue # not a workspace crate
        if (( floor[$dep] >= floor[$p] )); then
            err "$p (floor ${floor[$p]}) depends on $dep (floor ${floor[$dep]}): dependencies point down"
        fi
    done < <(jq -r --arg p "$p" '.packages[] | select(.name == $p) | .dependencies[]
                 | select(.kind == null) | .name' <<<"$meta")
done

# 2. unsafe only in sys, poll and ffi; every other crate root says forbid(unsafe_code).
if hits=$(grep -rnE '\bunsafe\s*(\{|fn|impl|extern)' --include='*.rs' crates tools benches \
        | grep -vE '^crates/(sys|poll|ffi)/'); then
    err "unsafe outside crates/sys, crates/poll and crates/ffi:"$'\n'"$hits"
fi
while read -r name src; do
    case $name in sipwire-sys | sipwire-poll | sipwire-ffi) continue ;; esac
    grep -q '^#!\[forbid(unsafe_code)\]' "$src" || err "$src ($name) lacks #![forbid(unsafe_code)]"
done < <(jq -r '.packages[] | .name as $n | .targets[]
             | select(.kind[] | IN("lib", "bin", "bench")) | "\($n) \(.src_path)"' <<<"$meta")

# 3. one poll-method type.
n=$(grep -rn --include='*.rs' -E '^\s*pub enum PollMethod\w*\b' crates tools | wc -l)
(( n == 1 )) || err "expected one poll-method enum, found $n"

# 4. file size, counting the lines before the first #[cfg(test)] (inline tests are not code).
while read -r f; do
    n=$(awk '/^#\[cfg\(test\)\]/ { exit } { n++ } END { print n + 0 }' "$f")
    (( n <= MAX_LINES )) || err "$f has $n lines of non-test code (over $MAX_LINES: split it by idea)"
done < <(find crates tools benches -path '*/src/*' -name '*.rs' ! -path '*/tests/*' ! -name 'tests.rs')

if (( fail )); then exit 1; fi
echo "check-layers: ok ($(wc -w <<<"$members") crates)"
