#!/usr/bin/env bash
# check-bsd: type-check the whole workspace, tests included (`--all-targets`), for the BSDs and
# macOS, on this Linux machine (no linker, nothing runs). Run by `make check-bsd`, so by
# `make test`. See docs/architecture.md, "Portability".
#
#   target                     toolchain                      command            warnings
#   x86_64-unknown-freebsd     default (stable), rustup std   clippy             fatal (-D warnings)
#   x86_64-apple-darwin        default (stable), rustup std   clippy             fatal (-D warnings)
#   aarch64-apple-darwin       default (stable), rustup std   clippy             fatal (-D warnings)
#   x86_64-unknown-netbsd      default (stable), rustup std   clippy             fatal (-D warnings)
#   x86_64-unknown-openbsd     nightly, -Zbuild-std, rust-src check              reported, not fatal
#   x86_64-unknown-dragonfly   nightly, -Zbuild-std, rust-src check              reported, not fatal
#
# rustup ships std for the first four (tier 2), so they are checked with the toolchain that
# builds sipwire everywhere else; OpenBSD and DragonFly (tier 3) have no shipped std and need
# the nightly toolchain to build one from rust-src. Nightly's lint set runs ahead of stable's,
# so a warning there would fail `make test` for a lint stable does not have yet: they are
# printed and counted, not fatal (the same code with the same cfg arms is held to -D warnings
# on the stable targets). When rustup cannot provide a stable target's std (offline), the
# target falls back to nightly -Zbuild-std if that is available.
#
# Missing pieces are installed (`rustup target add`, `rustup toolchain install nightly
# --profile minimal`, `rustup component add rust-src --toolchain nightly`); when one cannot be,
# the target is SKIPped with the reason. A target whose check fails only because a dependency
# (not a workspace crate) does not compile for it is PARTIAL: the workspace crates that do not
# need that dependency are checked (all targets; library only where it is a dev-dependency),
# the rest are named as not checked. The exit status is non-zero only for FAIL: a workspace
# crate that does not type-check (or, on a stable target, has a warning).
#
# Usage: tools/check-bsd.sh [TARGET...]    (default: the six above)
# Env:   CARGO (default cargo); CHECK_BSD_TARGET_DIR (default $CARGO_TARGET_DIR/check-bsd or
#        target/check-bsd: one directory for every target, so repeated runs are incremental).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
CARGO=${CARGO:-cargo}
target_dir=${CHECK_BSD_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}/check-bsd}
export CARGO_TARGET_DIR=$target_dir
logs=$target_dir/logs
mkdir -p "$logs"

stable_targets=(x86_64-unknown-freebsd x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-netbsd)
nightly_targets=(x86_64-unknown-openbsd x86_64-unknown-dragonfly)
if (($# > 0)); then targets=("$@"); else targets=("${stable_targets[@]}" "${nightly_targets[@]}"); fi

say() { echo "check-bsd: $*"; }
summary=()
failed=0
t_all=$SECONDS

# --- toolchain pieces -------------------------------------------------------------------------
have_rustup=1
command -v rustup >/dev/null 2>&1 || have_rustup=0

# True if rustup ships a std for target $1 (tier 1 and 2; read from the local manifest).
rustup_ships() {
    ((have_rustup)) && rustup target list 2>/dev/null | awk '{print $1}' | grep -qx "$1"
}

# Installs the rustup std of the default toolchain for $1; prints why not on failure.
stable_std() {
    ((have_rustup)) || { echo "rustup not found"; return 1; }
    rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
    local out
    if ! out=$(rustup target add "$1" 2>&1); then
        echo "rustup target add $1 failed: $(tail -n1 <<<"$out")"
        return 1
    fi
}

# Nightly with rust-src, installed once per run; on failure $nightly_state says why.
nightly_state=""
nightly_src() {
    if [[ -z $nightly_state ]]; then
        nightly_state=ok
        local out
        if ((!have_rustup)); then
            nightly_state="rustup not found"
        elif ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
            out=$(rustup toolchain install nightly --profile minimal 2>&1) ||
                nightly_state="rustup toolchain install nightly failed: $(tail -n1 <<<"$out")"
        fi
        if [[ $nightly_state == ok ]] &&
            ! rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src'; then
            out=$(rustup component add rust-src --toolchain nightly 2>&1) ||
                nightly_state="rustup component add rust-src --toolchain nightly failed: $(tail -n1 <<<"$out")"
        fi
    fi
    [[ $nightly_state == ok ]]
}

# --- the workspace ----------------------------------------------------------------------------
meta=$("$CARGO" metadata --no-deps --format-version 1 --offline 2>/dev/null ||
    "$CARGO" metadata --no-deps --format-version 1)
members=$(jq -r '.packages[].name' <<<"$meta" | sort)
has_lib() { jq -e --arg p "$1" '.packages[] | select(.name == $p) | .targets[]
    | select(.kind[] | IN("lib", "rlib", "cdylib", "staticlib"))' <<<"$meta" >/dev/null; }

# Runs one check of $target with the given package/target selection into $log (appending).
# Uses $mode (stable|nightly).
run_check() {
    local -a cmd
    if [[ $mode == stable ]]; then
        cmd=("$CARGO" clippy --target "$target" "$@" -- -D warnings)
    else
        # shellcheck disable=SC2054 # core,std is one argument
        cmd=(rustup run nightly cargo check -Zbuild-std=core,std --target "$target" "$@")
    fi
    echo "\$ ${cmd[*]}" >>"$log"
    "${cmd[@]}" >>"$log" 2>&1
}

# Names of the crates cargo reported as failing in $log.
# shellcheck disable=SC2016 # the backquotes are cargo's
failed_crates() { sed -n 's/^error: could not compile `\([^`]*\)`.*/\1/p' "$log" | sort -u; }

# Prints the diagnostics of $log (not cargo's progress lines).
show_log() {
    grep -vE '^\s*(Compiling|Checking|Downloaded|Downloading|Updating|Locking|Adding|Blocking|Fresh)\b' "$log" |
        sed 's/^/    /'
}

# Workspace members whose dependency tree (edge kinds $2) reaches package $1 on $target.
dependents() {
    "$CARGO" tree --target "$target" -e "$2" -i "$1" --workspace --prefix none --format '{p}' 2>/dev/null |
        awk '{print $1}' | sort -u | comm -12 - <(echo "$members")
}

# After a failure confined to dependencies: check what does not need them. Sets $partial_note.
check_without() {
    local -a bad=("$@") full=() libonly=()
    local need_normal="" need_dev="" p d
    for d in "${bad[@]}"; do
        need_normal+=$(dependents "$d" normal,build)$'\n'
        need_dev+=$(dependents "$d" normal,build,dev)$'\n'
    done
    need_normal=$(grep -v '^$' <<<"$need_normal" | sort -u)
    need_dev=$(grep -v '^$' <<<"$need_dev" | sort -u)
    for p in $members; do
        if grep -qx "$p" <<<"$need_normal"; then continue; fi
        if grep -qx "$p" <<<"$need_dev"; then
            has_lib "$p" && libonly+=("$p")
        else
            full+=("$p")
        fi
    done
    local -a sel=()
    local rc=0
    if ((${#full[@]})); then
        for p in "${full[@]}"; do sel+=(-p "$p"); done
        run_check "${sel[@]}" --all-targets || rc=1
    fi
    if ((${#libonly[@]})); then
        sel=()
        for p in "${libonly[@]}"; do sel+=(-p "$p"); done
        run_check "${sel[@]}" --lib || rc=1
    fi
    local unchecked
    unchecked=$(comm -23 <(echo "$members") <(printf '%s\n' "${full[@]}" "${libonly[@]}" | sort) | xargs)
    partial_note="dependency ${bad[*]} does not compile for $target (not sipwire code; see $log);"
    partial_note+=" checked all targets of: ${full[*]:-none};"
    partial_note+=" libraries only (their tests need it): ${libonly[*]:-none};"
    partial_note+=" not checked: ${unchecked:-none}"
    return $rc
}

# --- one target -------------------------------------------------------------------------------
check_target() {
    local target=$1 mode why t0=$SECONDS log="$logs/$1.log" how
    : >"$log"
    if rustup_ships "$target"; then
        if why=$(stable_std "$target"); then
            mode=stable
        elif nightly_src; then
            mode=nightly
            say "$target: no rustup std ($why): falling back to nightly -Zbuild-std"
        else
            record "$target" SKIP "$why; no nightly -Zbuild-std either: $nightly_state" 0
            return
        fi
    elif nightly_src; then
        mode=nightly
    else
        record "$target" SKIP "$nightly_state" 0
        return
    fi
    if [[ $mode == stable ]]; then
        how="stable std, clippy -D warnings"
    else
        how="nightly -Zbuild-std, check"
    fi
    say "$target ($how) ..."
    if run_check --workspace --all-targets; then
        record "$target" ok "$how$(warn_note)" $((SECONDS - t0))
        return
    fi
    local crates ours=() dep=() c
    crates=$(failed_crates)
    if [[ -z $crates ]]; then
        # Nothing failed to compile: the toolchain could not run (std's crates not
        # downloadable offline, ...). Not a type error.
        record "$target" SKIP "cargo failed before compiling: $(grep -m1 '^error' "$log" || tail -n1 "$log")" $((SECONDS - t0))
        return
    fi
    for c in $crates; do
        if grep -qx "$c" <<<"$members"; then ours+=("$c"); else dep+=("$c"); fi
    done
    if ((${#ours[@]} == 0)); then
        local partial_note=""
        if check_without "${dep[@]}"; then
            record "$target" PARTIAL "$how$(warn_note): $partial_note" $((SECONDS - t0))
            return
        fi
        crates=$(failed_crates | grep -vxF -f <(printf '%s\n' "${dep[@]}") | tr '\n' ' ')
    fi
    show_log
    record "$target" FAIL "$how: does not type-check: $(echo "$crates" | tr '\n' ' ')(log: $log)" $((SECONDS - t0))
    failed=1
}

# " (N warnings, not fatal)" for nightly checks that warned.
warn_note() {
    [[ $mode == nightly ]] || return 0
    local n
    n=$(grep -cE '^warning: ' "$log" | head -1)
    n=$((n - $(grep -cE '^warning: .* generated [0-9]+ warnings?' "$log")))
    if ((n > 0)); then
        grep -E '^warning' -A12 "$log" | grep -vE '^\s*(Compiling|Checking)' | sed 's/^/    /' >&2
        echo " ($n warnings, not fatal on nightly)"
    fi
}

record() {
    summary+=("$(printf '  %-26s %-7s %4ss  %s' "$1" "$2" "$4" "$3")")
    case $2 in
        SKIP) say "SKIP $1: $3" ;;
        PARTIAL) say "PARTIAL $1: $3" ;;
        FAIL) say "FAIL $1: $3" ;;
        *) say "ok $1 ($4 s)" ;;
    esac
}

for t in "${targets[@]}"; do check_target "$t"; done

echo "check-bsd: summary (target dir $target_dir, logs in $logs)"
printf '%s\n' "${summary[@]}"
n_ok=0 n_partial=0 n_skip=0 n_fail=0
for l in "${summary[@]}"; do
    case $(awk '{print $2}' <<<"$l") in
        ok) n_ok=$((n_ok + 1)) ;;
        PARTIAL) n_partial=$((n_partial + 1)) ;;
        SKIP) n_skip=$((n_skip + 1)) ;;
        FAIL) n_fail=$((n_fail + 1)) ;;
    esac
done
say "$n_ok ok, $n_partial partial, $n_skip skipped, $n_fail failed in $((SECONDS - t_all)) s"
exit $failed
