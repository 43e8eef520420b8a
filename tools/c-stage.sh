#!/usr/bin/env bash
# Stages libsipwire for C: copies the cargo-built libsipwire_ffi.{a,so} of PROFILE (debug or
# release) into OUT/lib as libsipwire.a and libsipwire.so.0 (+ the libsipwire.so link),
# include/sipwire.h into OUT/include, and writes OUT/lib/pkgconfig/sipwire.pc.
# Usage: tools/c-stage.sh [PROFILE [OUT]]   (defaults: release, target/c)
# Builds nothing: run `cargo build -p sipwire-ffi [--release]` first (`make c-lib` does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=${1:-release}
out=${2:-$root/target/c}
target_dir=${CARGO_TARGET_DIR:-$root/target}
src=$target_dir/$profile
for f in libsipwire_ffi.a libsipwire_ffi.so; do
    [[ -f $src/$f ]] || { echo "c-stage: $src/$f missing: build sipwire-ffi ($profile) first" >&2; exit 1; }
done
mkdir -p "$out/lib/pkgconfig" "$out/include"
cp -f "$src/libsipwire_ffi.a" "$out/lib/libsipwire.a"
cp -f "$src/libsipwire_ffi.so" "$out/lib/libsipwire.so.0"
ln -sf libsipwire.so.0 "$out/lib/libsipwire.so"
cp -f "$root/include/sipwire.h" "$out/include/sipwire.h"
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
cat >"$out/lib/pkgconfig/sipwire.pc" <<PC
prefix=$out
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: sipwire
Description: SIP transport runtime (TCP) with Kamailio's transport semantics
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lsipwire
Libs.private: -lpthread -ldl -lm
PC
echo "c-stage: $out (lib/libsipwire.{a,so}, include/sipwire.h, lib/pkgconfig/sipwire.pc)"
