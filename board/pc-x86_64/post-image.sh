#!/bin/sh
# Assemble the flashable disk image (A/B slots) and the signed upgrade bundle from the kernel,
# the initramfs and the squashfs root. Run by ./build-image and, for Buildroot, by
# buildroot/post-image.sh (which makes the initramfs from the target tree first).
# Usage: post-image.sh BINARIES_DIR   (BINARIES_DIR holds bzImage initrd.img rootfs.squashfs)
# Environment: KEEPLITE_RELEASE (default: Cargo.toml's), KEEPLITE_SIGNING_KEY (default: the
#   development key in keys/), KEEPLITE_HOST_BIN (a keeplite that runs on this machine, to sign
#   the bundle; without it no bundle is made).
set -eu

BINARIES_DIR=${1:-${BINARIES_DIR:?}}
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BOARD_DIR/../.." && pwd)
IMG=keeplite-pc-x86_64.img
VERSION=${KEEPLITE_RELEASE:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$TOP/Cargo.toml" | head -n 1)}
KEY=${KEEPLITE_SIGNING_KEY:-$BOARD_DIR/keys/development-signing.key}
# genimage.cfg's disk-signature 0x4b4c3031: the initramfs (and the kernel's root=PARTUUID=)
# find the partitions on whichever disk carries it. Slot A's root is partition 2, B's 4.
SIG=4b4c3031
CMDLINE="console=ttyS0,115200 panic=5 quiet loglevel=3"

# syslinux boots the slot on the DEFAULT line (the good one) unless its boot-once command (the
# ADV in ldlinux.sys, empty after --install) names the slot on trial; keeplite rewrites both
# (and /slots, the slot state) when an upgrade is installed, counted, marked good or rolled back.
{
	printf 'DEFAULT a\nPROMPT 0\nTIMEOUT 0\nSERIAL 0 115200\n'
	for s in a:02 b:04; do
		slot=${s%:*}
		# The initramfs (with both builders) finds the root, loads the modules a distribution
		# kernel needs, and counts the boot of the slot (boot counting needs it).
		printf 'LABEL %s\n\tKERNEL /%s/bzImage\n\tINITRD /%s/initrd.img\n\tAPPEND root=PARTUUID=%s-%s ro klslot=%s %s\n' \
			"$slot" "$slot" "$slot" "$SIG" "${s#*:}" "$slot" "$CMDLINE"
	done
} >"$BINARIES_DIR/syslinux.cfg"
printf '# keeplite A/B slots (written by keeplite; see `keeplite slot status`)\nboot a\na good %s\nb empty\ntrial 60 300\nnote factory image\n' \
	"$VERSION" >"$BINARIES_DIR/slots"

# The boot partition (FAT, KLBOOT): syslinux.cfg, slots, a/ with slot A's kernel (and
# initramfs), b/ empty until the first upgrade.
vfat=$BINARIES_DIR/boot.vfat
rm -f "$vfat"
mkfs.vfat -C -n KLBOOT "$vfat" $((48 * 1024)) >/dev/null
mmd -i "$vfat" ::a ::b
mcopy -i "$vfat" "$BINARIES_DIR/syslinux.cfg" "$BINARIES_DIR/slots" ::
mcopy -i "$vfat" "$BINARIES_DIR/bzImage" ::a/bzImage
mcopy -i "$vfat" "$BINARIES_DIR/initrd.img" ::a/initrd.img

tmp=$(mktemp -d "${TMPDIR:-/tmp}/klgenimage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/root"
genimage --rootpath "$tmp/root" --tmppath "$tmp/work" \
	--inputpath "$BINARIES_DIR" --outputpath "$BINARIES_DIR" \
	--config "$BOARD_DIR/genimage.cfg"

# BIOS boot: syslinux's MBR code chains to the active FAT partition at 1 MiB, whose boot
# sector and ldlinux.sys the mtools-based installer writes without mounting anything.
mbr=
for f in "$BINARIES_DIR/syslinux/mbr.bin" /usr/lib/syslinux/mbr/mbr.bin /usr/share/syslinux/mbr.bin; do
	[ -f "$f" ] && mbr=$f && break
done
[ -n "$mbr" ] || { echo "post-image.sh: syslinux mbr.bin not found (install syslinux-common)" >&2; exit 1; }
# genimage stops at the last partition with an image: the disk goes on to the end of slot B.
truncate -s 193M "$BINARIES_DIR/$IMG"
syslinux --offset $((1024 * 1024)) --install "$BINARIES_DIR/$IMG"
dd if="$mbr" of="$BINARIES_DIR/$IMG" bs=440 count=1 conv=notrunc 2>/dev/null
echo "post-image.sh: $BINARIES_DIR/$IMG"

# The upgrade bundle: the slot contents behind a manifest signed with KEY.
bundle=$BINARIES_DIR/keeplite-pc-x86_64-$VERSION.klb
if [ -z "${KEEPLITE_HOST_BIN:-}" ]; then
	echo "post-image.sh: no bundle (needs KEEPLITE_HOST_BIN)" >&2
	exit 0
fi
case $KEY in */keys/development-signing.key)
	echo "post-image.sh: warning: signing with the DEVELOPMENT key (set KEEPLITE_SIGNING_KEY for releases)" >&2 ;;
esac
"$KEEPLITE_HOST_BIN" bundle create --key "$KEY" --board pc-x86_64 --version "$VERSION" \
	--kernel "$BINARIES_DIR/bzImage" --initrd "$BINARIES_DIR/initrd.img" \
	--rootfs "$BINARIES_DIR/rootfs.squashfs" -o "$bundle"
