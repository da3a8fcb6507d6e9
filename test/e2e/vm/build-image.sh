#!/usr/bin/env bash
# Build (once, cached) the kernel + base initramfs of the e2e initiator VM.
#
# The VM is a Debian 12 kernel (linux-image-amd64) booted by QEMU (TCG) with
# an initramfs that holds busybox, udev, open-iscsi (iscsid/iscsiadm, kernel
# iscsi_tcp), multipath-tools, sg3-utils, fio and e2fsprogs. Everything is
# fetched from Debian's repository with `apt-get download` and unpacked with
# `dpkg-deb -x` into the cache: nothing is installed on the host except the
# host tools (qemu-system-x86, cpio, kmod) when they are missing.
#
# Usage: build-image.sh [--force] [--refresh] [--print-env]
#   --force       rebuild the initramfs even if the cached one is up to date
#   --refresh     apt-get update and re-resolve the package versions (else the
#                 versions resolved on the first build are kept)
#   --print-env   print VM_KERNEL=... / VM_INITRD=... / VM_KVER=... on stdout
#                 (progress goes to stderr)
# Env: VM_CACHE_DIR (default: <repo>/.vm-cache, git-ignored)
#
# Idempotent: downloads are kept in $VM_CACHE_DIR/debs, the unpacked packages
# in $VM_CACHE_DIR/root; the initramfs is rebuilt only when this script, the
# guest /init or the package versions change. Concurrent callers serialize on
# a lock file.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${VM_CACHE_DIR:-$REPO/.vm-cache}"
FORCE=0
REFRESH=0
PRINT_ENV=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --refresh) REFRESH=1 ;;
    --print-env) PRINT_ENV=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument: $a" >&2; exit 2 ;;
  esac
done

log() { echo "[vm-build] $*" >&2; }
die() { echo "[vm-build] ERROR: $*" >&2; exit 1; }

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock 9

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
}
# Fresh machines may have no package lists at all.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then apt_update_once; fi

# ---------------------------------------------------------------- host tools
need_host=()
command -v qemu-system-x86_64 >/dev/null || need_host+=(qemu-system-x86)
command -v cpio >/dev/null || need_host+=(cpio)
command -v depmod >/dev/null || need_host+=(kmod)
command -v dpkg-deb >/dev/null || die "dpkg-deb missing (not a Debian host?)"
if [ "${#need_host[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "need root to install: ${need_host[*]}"
  apt_update_once
  log "installing host packages: ${need_host[*]}"
  apt-get install -y -qq --no-install-recommends "${need_host[@]}" >&2 \
    || die "apt-get install ${need_host[*]} failed"
fi
# ipxe-qemu (pulled by qemu-system-x86) provides efi-virtio.rom; we disable
# option ROMs anyway (romfile=) so it is not needed.

# --------------------------------------------------------- package closure
# Guest packages; their library dependencies are added by walking Depends/
# Pre-Depends through library packages only (lib*, zlib1g). libc6 is taken
# from the host (same Debian release) so ld.so and libc always match.
GUEST_PKGS=(busybox-static open-iscsi multipath-tools kpartx dmsetup sg3-utils
            fio e2fsprogs kmod udev)
DEPFLAGS=(--no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances)
is_lib_pkg() {
  case "$1" in
    libc6|libc-bin|libc-l10n|libc6-*|libpam*|libperl*|libpython*|libgdbm*|libdebconfclient*) return 1 ;;
    lib*|zlib1g) return 0 ;;
    *) return 1 ;;
  esac
}

resolve_closure() {
  declare -A seen=()
  local queue=("${GUEST_PKGS[@]}") next dep p
  for p in "${GUEST_PKGS[@]}"; do seen[$p]=1; done
  while [ "${#queue[@]}" -gt 0 ]; do
    next=()
    while read -r dep; do
      [ -n "$dep" ] || continue
      if [ -z "${seen[$dep]:-}" ] && is_lib_pkg "$dep"; then
        seen[$dep]=1; next+=("$dep")
      fi
    done < <(apt-cache depends "${DEPFLAGS[@]}" "${queue[@]}" 2>/dev/null \
               | sed -nE 's/^  \|?(Pre)?Depends: ([^<> ]+)$/\2/p' | sort -u)
    queue=("${next[@]}")
  done
  printf '%s\n' "${!seen[@]}" | sort
}

# The kernel: linux-image-amd64 is a metapackage; take the image it points to.
kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null \
    | sed -nE 's/^  Depends: (linux-image-[0-9][^ ]*-amd64)$/\1/p' | head -1
}

DEBS="$CACHE/debs"
ROOT="$CACHE/root"        # all guest packages unpacked here
KROOT="$CACHE/kernel"     # the kernel package unpacked here
OUT="$CACHE/image"
mkdir -p "$DEBS" "$OUT"

# The resolved list (package=version) is kept in the cache, so the image stays
# the same until --refresh (or a version that vanished from the repository).
pkglist_file="$CACHE/packages.txt"
resolve_pkglist() {
  local KPKG p v
  KPKG="$(kernel_pkg)"
  if [ -z "$KPKG" ]; then apt_update_once; KPKG="$(kernel_pkg)"; fi
  [ -n "$KPKG" ] || die "cannot resolve linux-image-amd64"
  { resolve_closure; echo "$KPKG"; } > "$pkglist_file.tmp"
  # Pin the exact versions so the stamp changes when Debian updates a package.
  : > "$pkglist_file.ver"
  while read -r p; do
    v="$(apt-cache policy "$p" | sed -nE 's/^  Candidate: (.*)$/\1/p')"
    [ -n "$v" ] && [ "$v" != "(none)" ] || die "no candidate for package $p"
    echo "$p=$v" >> "$pkglist_file.ver"
  done < "$pkglist_file.tmp"
  mv "$pkglist_file.ver" "$pkglist_file"; rm -f "$pkglist_file.tmp"
}
download_missing() { # -> 0 when every .deb of the list is in $DEBS
  local pv p v missing=()
  mapfile -t PKGS < "$pkglist_file"
  for pv in "${PKGS[@]}"; do
    p="${pv%%=*}"; v="${pv#*=}"
    compgen -G "$DEBS/${p}_${v//:/%3a}_*.deb" >/dev/null || missing+=("$pv")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  log "downloading ${#missing[@]} packages into $DEBS"
  chmod 0777 "$DEBS" 2>/dev/null || true   # lets apt's _apt sandbox write there
  (cd "$DEBS" && apt-get download -q "${missing[@]}" >&2)
}
if [ ! -s "$pkglist_file" ] || [ "$REFRESH" = 1 ]; then
  [ "$REFRESH" = 0 ] || apt_update_once
  resolve_pkglist
fi
if ! download_missing; then
  log "download failed; refreshing the package lists and retrying"
  apt_update_once
  resolve_pkglist
  download_missing || die "apt-get download failed"
fi
mapfile -t PKGS < "$pkglist_file"
KPKG="$(grep -E '^linux-image-' "$pkglist_file" | cut -d= -f1)"

deb_of() { # pkg=ver -> path of the .deb
  local p="${1%%=*}" v="${1#*=}"; v="${v//:/%3a}"
  compgen -G "$DEBS/${p}_${v}_*.deb" | head -1
}

# ------------------------------------------------------------------- extract
pkg_hash="$(sha256sum "$pkglist_file" | cut -c1-16)"
if [ "$(cat "$ROOT/.stamp" 2>/dev/null)" != "$pkg_hash" ]; then
  log "unpacking guest packages into $ROOT"
  rm -rf "$ROOT"; mkdir -p "$ROOT"
  for pv in "${PKGS[@]}"; do
    case "$pv" in linux-image-*) continue ;; esac
    dpkg-deb -x "$(deb_of "$pv")" "$ROOT"
  done
  echo "$pkg_hash" > "$ROOT/.stamp"
fi
if [ "$(cat "$KROOT/.stamp" 2>/dev/null)" != "$pkg_hash" ]; then
  log "unpacking kernel $KPKG into $KROOT"
  rm -rf "$KROOT"; mkdir -p "$KROOT"
  dpkg-deb -x "$(deb_of "$(grep -E "^$KPKG=" "$pkglist_file")")" "$KROOT"
  KVER="$(ls "$KROOT/lib/modules" | head -1)"
  depmod -b "$KROOT" "$KVER"
  echo "$pkg_hash" > "$KROOT/.stamp"
fi
KVER="$(ls "$KROOT/lib/modules" | head -1)"
[ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "kernel image missing in $KROOT/boot"

# ---------------------------------------------------------------- initramfs
INIT_SRC="$HERE/init"
input_hash="$( { cat "$0" "$INIT_SRC"; echo "$pkg_hash"; } | sha256sum | cut -c1-16)"
INITRD="$OUT/initramfs-base.img"
KERNEL="$OUT/vmlinuz"
if [ "$FORCE" = 0 ] && [ -s "$INITRD" ] && [ -s "$KERNEL" ] \
   && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$input_hash" ]; then
  log "cached: $KERNEL $INITRD (kernel $KVER)"
else
  log "building initramfs (kernel $KVER)"
  IR="$CACHE/initramfs-root"
  rm -rf "$IR"; mkdir -p "$IR"
  # merged-/usr layout, like Debian 12
  mkdir -p "$IR"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64} "$IR"/{dev,proc,sys,run,tmp,mnt,root,etc,var}
  ln -s usr/bin "$IR/bin"; ln -s usr/sbin "$IR/sbin"; ln -s usr/lib "$IR/lib"; ln -s usr/lib64 "$IR/lib64"
  ln -s ../run "$IR/var/run"; ln -s ../run/lock "$IR/var/lock"
  chmod 1777 "$IR/tmp"

  # Copy a file from the unpacked root ($ROOT) into the initramfs, normalizing
  # /bin,/sbin,/lib to the merged /usr layout (dirs above are symlinks).
  put() { # put <path inside ROOT> [dest path]
    local src="$ROOT/$1" dst="$IR/${2:-$1}"
    [ -e "$src" ] || [ -L "$src" ] || die "missing in guest root: $1"
    mkdir -p "$(dirname "$dst")"
    cp -a "$src" "$dst"
  }

  # ELF binaries: collected here, their libraries resolved below.
  ELF_LIST="$CACHE/elf-list.txt"; : > "$ELF_LIST"
  put_bin() { # put_bin <path inside ROOT>... (first existing of alternatives /sbin vs /usr/sbin)
    local rel tgt n
    for rel in "$@"; do
      if [ -e "$ROOT/$rel" ] || [ -L "$ROOT/$rel" ]; then
        # follow symlinks inside the root (mkfs.ext4 -> mke2fs, systemd-udevd -> /bin/udevadm),
        # recreating each link in the initramfs
        n=0
        while [ -L "$ROOT/$rel" ]; do
          tgt="$(readlink "$ROOT/$rel")"
          mkdir -p "$(dirname "$IR/$rel")"; ln -sfn "$tgt" "$IR/$rel"
          case "$tgt" in /*) rel="${tgt#/}" ;; *) rel="$(dirname "$rel")/$tgt" ;; esac
          n=$((n + 1)); [ "$n" -lt 10 ] || die "symlink loop at $rel"
        done
        put "$rel"; echo "$ROOT/$rel" >> "$ELF_LIST"; return 0
      fi
    done
    die "none of these exist in the guest root: $*"
  }

  # busybox (static) + applet links where no real tool is installed
  put_bin bin/busybox
  # open-iscsi
  put_bin sbin/iscsid usr/sbin/iscsid
  put_bin sbin/iscsiadm usr/sbin/iscsiadm
  put_bin sbin/iscsi-iname usr/sbin/iscsi-iname
  put_bin sbin/iscsistart usr/sbin/iscsistart
  # multipath-tools, kpartx, dmsetup
  put_bin sbin/multipath usr/sbin/multipath
  put_bin sbin/multipathd usr/sbin/multipathd
  put_bin sbin/mpathpersist usr/sbin/mpathpersist
  put_bin sbin/kpartx usr/sbin/kpartx
  put_bin sbin/dmsetup usr/sbin/dmsetup
  for d in lib/multipath usr/lib/x86_64-linux-gnu/multipath lib/x86_64-linux-gnu/multipath; do
    if [ -d "$ROOT/$d" ]; then
      for f in "$ROOT/$d"/*.so; do put_bin "${f#$ROOT/}"; done
    fi
  done
  # e2fsprogs
  for b in mke2fs e2fsck tune2fs dumpe2fs resize2fs debugfs; do put_bin "sbin/$b" "usr/sbin/$b"; done
  for b in mkfs.ext4 mkfs.ext2 mkfs.ext3 fsck.ext4; do put_bin "sbin/$b" "usr/sbin/$b"; done
  put etc/mke2fs.conf
  # sg3-utils: every sg_* tool
  for f in "$ROOT"/usr/bin/sg_* "$ROOT"/usr/bin/sginfo "$ROOT"/usr/bin/sgp_dd "$ROOT"/usr/bin/sgm_dd; do
    [ -e "$f" ] && put_bin "${f#$ROOT/}"
  done
  # fio
  put_bin usr/bin/fio
  # kmod (insmod/modprobe/... are symlinks to kmod)
  put_bin bin/kmod usr/bin/kmod
  for b in insmod rmmod modprobe lsmod modinfo depmod; do ln -sf ../bin/kmod "$IR/usr/sbin/$b"; done
  # udev
  put_bin lib/systemd/systemd-udevd usr/lib/systemd/systemd-udevd
  put_bin bin/udevadm usr/bin/udevadm
  for f in "$ROOT"/lib/udev/* "$ROOT"/usr/lib/udev/*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    if head -c4 "$f" | grep -q 'ELF'; then put_bin "${f#$ROOT/}"; else put "${f#$ROOT/}"; fi
  done
  for d in lib/udev/rules.d usr/lib/udev/rules.d; do
    [ -d "$ROOT/$d" ] && put "$d"
  done
  # rules that need systemd or things we don't ship are harmless (they just fail quietly)

  # ---- libraries: resolve with the host's ldd, searching the unpacked root first
  LIBPATH="$ROOT/lib:$ROOT/usr/lib:$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/systemd:$ROOT/usr/lib/systemd:$ROOT/usr/lib/x86_64-linux-gnu/ceph"
  declare -A libs=()
  sort -u "$ELF_LIST" -o "$ELF_LIST"
  while read -r f; do
    out="$(LD_LIBRARY_PATH="$LIBPATH" ldd "$f" 2>&1 || true)"
    case "$out" in *"not a dynamic executable"*|*"statically linked"*) continue ;; esac
    if grep -q 'not found' <<<"$out"; then
      die "unresolved libraries for $f:
$(grep 'not found' <<<"$out")"
    fi
    while read -r lib; do [ -n "$lib" ] && libs[$lib]=1; done \
      < <(awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' <<<"$out")
  done < "$ELF_LIST"
  for lib in "${!libs[@]}"; do
    name="$(basename "$lib")"
    case "$name" in
      ld-linux-x86-64.so.2) cp -L "$lib" "$IR/usr/lib64/$name"
                            cp -L "$lib" "$IR/usr/lib/x86_64-linux-gnu/$name" ;;
      *) case "$lib" in
           "$ROOT"/*/systemd/*) mkdir -p "$IR/usr/lib/systemd"; cp -L "$lib" "$IR/usr/lib/systemd/$name" ;;
         esac
         cp -L "$lib" "$IR/usr/lib/x86_64-linux-gnu/$name" ;;
    esac
  done
  # NSS (iscsid/udev look up users and groups): files backend
  for lib in /lib/x86_64-linux-gnu/libnss_files.so.2; do
    [ -e "$lib" ] && cp -L "$lib" "$IR/usr/lib/x86_64-linux-gnu/"
  done
  log "copied $(ls "$IR/usr/lib/x86_64-linux-gnu" | wc -l) shared libraries"

  # busybox applets for everything not provided by a real tool
  "$IR/usr/bin/busybox" --list-full | while read -r a; do
    dst="$IR/${a}"
    # busybox lists bin/, sbin/, usr/bin/, usr/sbin/ -- all under merged /usr
    base="$(basename "$a")"
    if [ ! -e "$IR/usr/bin/$base" ] && [ ! -e "$IR/usr/sbin/$base" ] \
       && [ ! -L "$IR/usr/bin/$base" ] && [ ! -L "$IR/usr/sbin/$base" ]; then
      ln -s /usr/bin/busybox "$IR/usr/bin/$base"
    fi
  done

  # ---- kernel modules
  MODS=(virtio_pci virtio_net virtio_blk virtio_scsi virtio_rng sd_mod sg
        iscsi_tcp libiscsi scsi_transport_iscsi crc32c_generic crc32c_intel libcrc32c
        dm_mod dm_multipath dm_round_robin dm_service_time dm_queue_length
        scsi_dh_alua scsi_dh_rdac scsi_dh_emc ext4 loop af_packet)
  MODLIST="$IR/etc/modules-load.list"; : > "$MODLIST"
  for m in "${MODS[@]}"; do
    deps="$(modprobe -S "$KVER" -d "$KROOT" --show-depends "$m" 2>&1)" || {
      log "note: module $m: $deps"; continue; }
    while read -r kw path _; do
      if [ "$kw" = insmod ]; then
        rel="${path#$KROOT/}"
        mkdir -p "$IR/$(dirname "$rel")"
        cp -n "$KROOT/$rel" "$IR/$rel"
        modname="$(basename "$rel")"; modname="${modname%%.ko*}"
        grep -qx "$modname" "$MODLIST" || echo "$modname" >> "$MODLIST"
      fi
    done <<<"$deps"
  done
  for f in modules.builtin modules.builtin.modinfo modules.order; do
    [ -f "$KROOT/lib/modules/$KVER/$f" ] && cp "$KROOT/lib/modules/$KVER/$f" "$IR/lib/modules/$KVER/"
  done
  depmod -b "$IR" "$KVER"
  log "modules (load order): $(tr '\n' ' ' < "$MODLIST")"

  # ---- configuration
  cat > "$IR/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat > "$IR/etc/group" <<'EOF'
root:x:0:
disk:x:6:
tty:x:5:
kmem:x:15:
kvm:x:104:
render:x:105:
sgx:x:106:
input:x:107:
audio:x:29:
video:x:44:
cdrom:x:24:
tape:x:26:
dialout:x:20:
floppy:x:25:
nogroup:x:65534:
EOF
  echo 'passwd: files
group: files
shadow: files
hosts: files' > "$IR/etc/nsswitch.conf"
  echo '127.0.0.1 localhost
10.0.2.2 host' > "$IR/etc/hosts"
  echo vmtest > "$IR/etc/hostname"
  mkdir -p "$IR/etc/iscsi" "$IR/etc/multipath" "$IR/var/lib/iscsi"
  # iscsid.conf: Debian's defaults, made to start quickly in the VM. Tests can
  # override anything per node with `iscsiadm -m node -o update`.
  put etc/iscsi/iscsid.conf
  sed -i -e 's/^node.startup = .*/node.startup = manual/' "$IR/etc/iscsi/iscsid.conf"
  # initiator name: fixed, tests may rewrite it before starting iscsid
  echo "InitiatorName=iqn.2024-01.org.vstorage.test:vm-initiator" > "$IR/etc/iscsi/initiatorname.iscsi"
  cat > "$IR/etc/multipath.conf" <<'EOF'
defaults {
    user_friendly_names yes
    find_multipaths no
}
EOF
  mkdir -p "$IR/etc/udev"; [ -d "$ROOT/etc/udev" ] && cp -a "$ROOT/etc/udev/." "$IR/etc/udev/"

  install -m 0755 "$INIT_SRC" "$IR/init"

  # ---- pack (cpio newc, gzip)
  (cd "$IR" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) \
    | gzip -6 > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  cp "$KROOT/boot/vmlinuz-$KVER" "$KERNEL"
  echo "$KVER" > "$OUT/kver"
  echo "$input_hash" > "$OUT/.stamp"
  log "built $INITRD ($(du -h "$INITRD" | cut -f1), unpacked $(du -sh "$IR" | cut -f1))"
fi

if [ "$PRINT_ENV" = 1 ]; then
  echo "VM_KERNEL=$KERNEL"
  echo "VM_INITRD=$INITRD"
  echo "VM_KVER=$(cat "$OUT/kver")"
else
  echo "kernel:    $KERNEL"
  echo "initramfs: $INITRD"
  echo "kver:      $(cat "$OUT/kver")"
fi
