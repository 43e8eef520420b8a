#!/usr/bin/env bash
# tools/sctp-vm/prepare.sh — get everything the SCTP test guest needs, into target/sctp-vm/:
#   vmlinuz      a Debian kernel (never installed: the .deb is only extracted)
#   vmlinux      the same kernel uncompressed, which QEMU boots through its PVH entry (faster)
#   initrd.img   busybox-static + the modules that kernel needs for SCTP and 9p + our /init
# Idempotent: installs missing Debian packages, keeps the kernel .deb in target/sctp-vm/cache and
# rebuilds the initramfs only when one of its inputs changed. Silent when there is nothing to do
# (unless -v). See docs/sctp.md.
#
#   tools/sctp-vm/prepare.sh [-v|--verbose] [-q|--quiet] [--refresh]
#     --refresh   run `apt-get update` first (to learn of a newer kernel ABI)
# Environment:
#   SCTP_VM_FLAVOUR  kernel flavour, default "amd64" (the cloud flavour has no 9p: see docs/sctp.md)
#   SCTP_VM_EXTRA_MODULES  more modules (names) to load in the guest, e.g. "sch_netem"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${SCTP_VM_OUT:-$root/target/sctp-vm}"
cache="$out/cache"
flavour="${SCTP_VM_FLAVOUR:-amd64}"
# Modules the guest loads (their dependencies are added from each .ko's .modinfo):
# SCTP itself, 9p over virtio-pci for the shared folders, veth for namespace tests,
# sctp_diag so `ss --sctp` works.
modules="sctp sctp_diag 9p 9pnet_virtio virtio_pci veth ${SCTP_VM_EXTRA_MODULES:-}"

verbose=0
refresh=0
for a in "$@"; do
  case "$a" in
    -v|--verbose) verbose=1 ;;
    -q|--quiet) verbose=0 ;;
    --refresh) refresh=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "prepare.sh: unknown argument: $a" >&2; exit 2 ;;
  esac
done

log() { if [ "$verbose" = 1 ]; then echo "sctp-vm prepare: $*" >&2; fi; }
note() { echo "sctp-vm prepare: $*" >&2; }
die() { echo "sctp-vm prepare: error: $*" >&2; exit 1; }

mkdir -p "$out" "$cache"

# One prepare at a time (two `make` runs may start together). Bounded wait.
exec 9>"$out/.prepare.lock"
flock -w 900 9 || die "another prepare.sh held $out/.prepare.lock for 900 s"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else
    command -v sudo >/dev/null 2>&1 || die "need root to run: $*"
    sudo "$@"
  fi
}

apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  note "apt-get update"
  as_root timeout 600 apt-get -q update >"$out/apt-update.log" 2>&1 ||
    { cat "$out/apt-update.log" >&2; die "apt-get update failed (log above)"; }
  apt_updated=1
}
[ "$refresh" = 1 ] && apt_update

apt_install() { # apt_install [apt-get options...] PKG...
  note "apt-get install $*"
  # No Recommends: qemu-system-x86's would pull GTK, SDL, GStreamer, ... (~170 packages).
  as_root env DEBIAN_FRONTEND=noninteractive timeout 900 \
    apt-get -q -y --no-install-recommends install "$@" >"$out/apt-install.log" 2>&1 ||
    { cat "$out/apt-install.log" >&2; die "apt-get install $* failed"; }
}

# ---------------------------------------------------------------------------------------------
# 1. Packages: qemu-system-x86 (bookworm-backports on bookworm) and busybox-static.
codename=$( . /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}" ) || codename=""

# On bookworm the image carries qemu-utils from bookworm-backports; bookworm's own
# qemu-system-x86 (7.2) would make apt remove it. So take qemu-system-x86 from backports too,
# with a source derived from the machine's own debian.sources entry (only Suites changes).
add_backports() {
  local src=/etc/apt/sources.list.d/debian.sources
  local dst=/etc/apt/sources.list.d/sipwire-bookworm-backports.sources
  [ -e "$dst" ] && return 0
  if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then return 0; fi
  [ -r "$src" ] || { note "no $src: installing bookworm's own qemu-system-x86"; return 1; }
  # The stanza whose Suites list contains plain "bookworm", with only its Suites line changed.
  local stanza
  stanza=$(awk -v RS= '/(^|\n)Suites:([^\n]* )?bookworm( |\n|$)/ { print; exit }' "$src")
  [ -n "$stanza" ] || { note "no bookworm stanza in $src: using bookworm's qemu"; return 1; }
  note "adding $dst (derived from $src, Suites: bookworm-backports)"
  printf '%s\n' "$stanza" | sed 's/^Suites:.*/Suites: bookworm-backports/' | as_root tee "$dst" >/dev/null
  apt_updated=0
  apt_update
}

# (No `cmd | grep -q` under pipefail: grep quitting early makes the writer fail with SIGPIPE.)
has_backports_qemu() {
  local p
  p=$(apt-cache policy qemu-system-x86 2>/dev/null) || return 1
  [[ "$p" == *bookworm-backports* ]]
}
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if [ "$codename" = bookworm ] && add_backports && has_backports_qemu; then
    apt_install -t bookworm-backports qemu-system-x86
  else
    [ "$apt_updated" = 1 ] || apt-cache show qemu-system-x86 >/dev/null 2>&1 || apt_update
    apt_install qemu-system-x86
  fi
  command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 still missing after install"
fi

busybox_ok() {
  local st
  st=$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null) || return 1
  [[ "$st" == *"ok installed"* ]] && [ -x /bin/busybox ]
}
if ! busybox_ok; then
  apt-cache show busybox-static >/dev/null 2>&1 || apt_update
  apt_install busybox-static
  busybox_ok || die "busybox-static still missing after install"
fi
command -v python3 >/dev/null 2>&1 || apt_install python3-minimal

# ---------------------------------------------------------------------------------------------
# 2. The kernel: today's ABI of linux-image-$flavour, from the apt index; .deb cached.
meta="linux-image-$flavour"
resolve_kernel() { # prints e.g. linux-image-6.1.0-57-amd64, or nothing
  apt-cache depends "$meta" 2>/dev/null |
    awk -v f="$flavour" '!n && $1 == "Depends:" && $2 ~ "^linux-image-[0-9].*-" f "$" { print $2; n = 1 }'
}
deb_name() { # PKG -> the file name apt-get download writes for the candidate version
  local ver
  ver=$(apt-cache policy "$1" 2>/dev/null | awk '!n && $1 == "Candidate:" { print $2; n = 1 }')
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || return 1
  printf '%s_%s_amd64.deb\n' "$1" "${ver/:/%3a}"
}

# apt-cache takes seconds here (no pkgcache.bin): remember its answer while the index is unchanged.
memo="$cache/resolved-$flavour"
index_sig() {
  stat -c '%n %Y %s' /var/lib/apt/lists/*Packages* /etc/apt/sources.list.d/* 2>/dev/null |
    sha256sum | cut -c1-32
}
resolve() { # sets pkg and want from the apt index (empty when it names none)
  local sig
  sig=$(index_sig)
  pkg="" want=""
  if [ -s "$memo" ] && read -r m_sig m_pkg m_want <"$memo" && [ "$m_sig" = "$sig" ]; then
    pkg=$m_pkg want=$m_want
    return 0
  fi
  pkg=$(resolve_kernel) || pkg=""  # apt-cache fails (100) for an unknown package
  [ -n "$pkg" ] || return 0
  want=$(deb_name "$pkg") || want=""
  [ -n "$want" ] && echo "$sig $pkg $want" >"$memo"
  return 0
}
download() {
  note "downloading $pkg"
  (cd "$cache" && rm -f ./*.deb.partial &&
    timeout 900 apt-get -q -o APT::Sandbox::User=root download "$pkg") >"$out/apt-download.log" 2>&1
}

resolve
if [ -z "$want" ] && [ "$apt_updated" = 0 ]; then apt_update; resolve; fi

deb=""
if [ -n "$want" ] && [ -s "$cache/$want" ]; then
  deb="$cache/$want"
elif [ -n "$want" ]; then
  if ! download && [ "$apt_updated" = 0 ]; then
    # Old ABIs vanish from the mirror after a security update: refresh the index and retry.
    apt_update
    resolve
    [ -z "$want" ] || [ -s "$cache/$want" ] || download || true
  fi
  if [ -n "$want" ] && [ -s "$cache/$want" ]; then
    deb="$cache/$want"
    # Keep only this one (.debs of older ABIs are 70 MB each).
    for old in "$cache"/linux-image-*-"$flavour"_*.deb; do
      [ "$old" = "$deb" ] || rm -f "$old"
    done
  fi
fi
if [ -z "$deb" ]; then
  deb=$(ls -1t "$cache"/linux-image-*-"$flavour"_*.deb 2>/dev/null | head -n1) || deb=""
  if [ -z "$deb" ]; then
    [ -s "$out/apt-download.log" ] && cat "$out/apt-download.log" >&2
    die "could not resolve or download $meta (and no kernel .deb is cached in $cache)"
  fi
  note "warning: apt gave no ${pkg:-$meta}; using the cached $(basename "$deb")"
fi
log "kernel package: $(basename "$deb")"

# ---------------------------------------------------------------------------------------------
# 3. Extract the .deb (once per .deb) and compute the module load order.
kname=$(basename "$deb" .deb)
kdir="$cache/$kname"
if [ ! -e "$kdir/.extracted" ]; then
  log "extracting $(basename "$deb")"
  rm -rf "$cache"/linux-image-*-"$flavour"_*/  # older extractions (400 MB each)
  mkdir -p "$kdir"
  dpkg -x "$deb" "$kdir" || die "dpkg -x $deb failed"
  touch "$kdir/.extracted"
fi
vmlinuz_src=$(ls -1 "$kdir"/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$vmlinuz_src" ] || die "no boot/vmlinuz-* in $deb"
moddir=$(ls -1d "$kdir"/lib/modules/*/ 2>/dev/null | head -n1)
[ -n "$moddir" ] || die "no lib/modules/*/ in $deb"
moddir=${moddir%/}

init_src="$here/init"
[ -r "$init_src" ] || die "missing $init_src"

# Inputs of the initramfs; when their digest matches the last build's, nothing to do.
stamp_now=$( {
  echo "deb $(basename "$deb") $(stat -c %s "$deb")"
  echo "modules $modules"
  cat "$init_src" "${BASH_SOURCE[0]}" /bin/busybox | sha256sum
} | sha256sum | cut -d' ' -f1 )
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && [ -s "$out/modules.order" ] &&
   [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp_now" ]; then
  log "up to date ($(basename "$deb"))"
  exit 0
fi

note "building the initramfs for $(basename "$vmlinuz_src")"
stage="$out/initramfs.stage"
rm -rf "$stage"
mkdir -p "$stage"/{bin,dev,proc,sys,host,etc,lib/modules,tmp}

# Load order from .modinfo (depends= and softdep pre:), dependencies first, copied into
# $stage/lib/modules with the order in $stage/etc/modules.order. The .deb has no modules.dep and
# this machine has no kmod, so read the ELF section ourselves (stdlib Python).
python3 - "$moddir" "$stage" $modules <<'PY' || die "module resolution failed"
import lzma, os, shutil, struct, sys

moddir, stage, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
norm = lambda n: n.replace("-", "_")

files = {}
for dp, _, fs in os.walk(os.path.join(moddir, "kernel")):
    for f in fs:
        for suf in (".ko", ".ko.xz"):
            if f.endswith(suf):
                files[norm(f[: -len(suf)])] = os.path.join(dp, f)
builtin = set()
bfile = os.path.join(moddir, "modules.builtin")
if os.path.exists(bfile):
    for line in open(bfile):
        builtin.add(norm(os.path.basename(line.strip()).split(".ko")[0]))

def raw(name):
    p = files[name]
    data = open(p, "rb").read()
    return lzma.decompress(data) if p.endswith(".xz") else data

def modinfo(data):
    # ELF64 little-endian: find the .modinfo section via the section header string table.
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise SystemExit("not an ELF64 object")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = secs[shstrndx][4]
    for name_off, _t, _f, _a, off, size in secs:
        end = data.index(b"\0", stroff + name_off)
        if data[stroff + name_off:end] == b".modinfo":
            info = {}
            for kv in data[off:off + size].split(b"\0"):
                if b"=" in kv:
                    k, v = kv.decode(errors="replace").split("=", 1)
                    info.setdefault(k, []).append(v)
            return info
    return {}

order, seen, blobs = [], set(), {}
def visit(name, chain=(), soft=False):
    name = norm(name)
    if name in seen or name in builtin:
        return
    if name not in files:
        # Soft dependencies name an algorithm (crc32c): its portable module is NAME_generic.
        if soft and name + "_generic" in files:
            return visit(name + "_generic", chain, soft)
        if soft:
            print(f"  note: soft dependency {name} not found, skipped", file=sys.stderr)
            return
        raise SystemExit(f"module {name} not in this kernel (needed by {' <- '.join(chain) or 'the list'})")
    if name in chain:
        raise SystemExit(f"dependency cycle at {name}")
    data = raw(name)
    info = modinfo(data)
    for sd in info.get("softdep", []):
        words = sd.split()
        if "pre:" in words:
            pre = words[words.index("pre:") + 1:]
            pre = pre[: next((i for i, w in enumerate(pre) if w.endswith(":")), len(pre))]
            for dep in pre:
                visit(dep, chain + (name,), soft=True)
    for dep in ",".join(info.get("depends", [])).split(","):
        if dep:
            visit(dep, chain + (name,))
    seen.add(name)
    order.append(name)
    blobs[name] = data

for r in roots:
    visit(r)
with open(os.path.join(stage, "etc", "modules.order"), "w") as out:
    for i, name in enumerate(order):
        fn = f"{i:02d}-{name}.ko"
        with open(os.path.join(stage, "lib", "modules", fn), "wb") as f:
            f.write(blobs[name])
        out.write(fn + "\n")
PY
cp "$stage/etc/modules.order" "$out/modules.order"
log "module load order: $(sed 's/^[0-9]*-//; s/\.ko$//' "$out/modules.order" | tr '\n' ' ')"

cp /bin/busybox "$stage/bin/busybox"
install -m 0755 "$init_src" "$stage/init"
basename "$deb" >"$stage/etc/sctp-vm-kernel"
# /dev/console for the kernel to open before /init mounts devtmpfs (the kernel's built-in
# initramfs has one too).
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

# newc archive with busybox's own cpio (the host need not have cpio); uncompressed: under TCG
# decompressing costs more than the copy.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | /bin/busybox cpio -o -H newc) \
  >"$out/initrd.img.tmp" 2>"$out/cpio.log" || { cat "$out/cpio.log" >&2; die "cpio failed"; }
mv -f "$out/initrd.img.tmp" "$out/initrd.img"
cp -f "$vmlinuz_src" "$out/vmlinuz.tmp" && mv -f "$out/vmlinuz.tmp" "$out/vmlinuz"

# The bzImage decompresses itself (XZ) before the kernel runs: ~7 s under TCG. QEMU boots an
# uncompressed ELF vmlinux straight through its PVH entry note, so unpack it once here when the
# kernel has that note (CONFIG_PVH); run.sh takes vmlinux when it exists, else vmlinuz.
rm -f "$out/vmlinux"
python3 - "$out/vmlinuz" "$out/vmlinux.tmp" <<'PY' && mv -f "$out/vmlinux.tmp" "$out/vmlinux" ||
import lzma, re, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
img = open(src, "rb").read()
def unpack():
    for magic, fn in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor().decompress(b)),
                      (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(31).decompress(b))):
        at = img.find(magic)
        while at >= 0:
            try:
                elf = fn(img[at:])
                if elf[:4] == b"\x7fELF":
                    return elf
            except Exception:
                pass
            at = img.find(magic, at + 1)
    return None
elf = unpack()
if elf is None:
    sys.exit("no XZ or gzip payload holding an ELF (other compressions are left alone)")
# Xen PVH entry note: namesz 4, type 18 (XEN_ELFNOTE_PHYS32_ENTRY), name "Xen".
if not re.search(rb"\x04\x00\x00\x00[\x04\x08]\x00\x00\x00\x12\x00\x00\x00Xen\x00", elf):
    sys.exit("the kernel has no PVH entry note")
open(dst, "wb").write(elf)
PY
  { rm -f "$out/vmlinux.tmp"; note "booting the compressed vmlinuz (slower): no vmlinux for PVH"; }
rm -rf "$stage"
echo "$stamp_now" >"$out/.stamp"
note "ready: $out/$([ -e "$out/vmlinux" ] && echo vmlinux || echo vmlinuz) ($(basename "$vmlinuz_src")), $out/initrd.img ($(du -k "$out/initrd.img" | cut -f1) KiB, $(wc -l <"$out/modules.order") modules)"
