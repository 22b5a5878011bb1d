#!/bin/sh
# Assemble the flashable disk image from the kernel, the squashfs root and an empty config
# partition. Used as BR2_ROOTFS_POST_IMAGE_SCRIPT by Buildroot and by ./build-image.
# Usage: post-image.sh BINARIES_DIR   (BINARIES_DIR holds bzImage [initrd.img] rootfs.squashfs)
set -eu

BINARIES_DIR=${1:-${BINARIES_DIR:?}}
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
IMG=keeplite-pc-x86_64.img
# genimage.cfg's disk-signature 0x4b4c3031: the initramfs (and the kernel's root=PARTUUID=)
# find the root partition on whichever disk carries it.
ROOT=PARTUUID=4b4c3031-02
CMDLINE="console=ttyS0,115200 panic=5 quiet loglevel=3"

if [ -f "$BINARIES_DIR/initrd.img" ]; then
	# Distribution kernel: storage and squashfs are modules, loaded by the initramfs.
	boot_files='"bzImage", "initrd.img", "syslinux.cfg"'
	append="initrd=initrd.img root=$ROOT ro $CMDLINE"
else
	# Buildroot kernel: everything needed for the root is built in (linux.fragment).
	boot_files='"bzImage", "syslinux.cfg"'
	append="root=$ROOT rootfstype=squashfs ro rootwait $CMDLINE"
fi

cat >"$BINARIES_DIR/syslinux.cfg" <<CFG
DEFAULT keeplite
PROMPT 0
TIMEOUT 0
SERIAL 0 115200
LABEL keeplite
	KERNEL bzImage
	APPEND $append
CFG

sed "s/@BOOT_FILES@/$boot_files/" "$BOARD_DIR/genimage.cfg" >"$BINARIES_DIR/genimage.cfg"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/klgenimage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/root"
genimage --rootpath "$tmp/root" --tmppath "$tmp/work" \
	--inputpath "$BINARIES_DIR" --outputpath "$BINARIES_DIR" \
	--config "$BINARIES_DIR/genimage.cfg"

# BIOS boot: syslinux's MBR code chains to the active FAT partition at 1 MiB, whose boot
# sector and ldlinux.sys the mtools-based installer writes without mounting anything.
mbr=
for f in "$BINARIES_DIR/syslinux/mbr.bin" /usr/lib/syslinux/mbr/mbr.bin /usr/share/syslinux/mbr.bin; do
	[ -f "$f" ] && mbr=$f && break
done
[ -n "$mbr" ] || { echo "post-image.sh: syslinux mbr.bin not found (install syslinux-common)" >&2; exit 1; }
syslinux --offset $((1024 * 1024)) --install "$BINARIES_DIR/$IMG"
dd if="$mbr" of="$BINARIES_DIR/$IMG" bs=440 count=1 conv=notrunc 2>/dev/null
echo "post-image.sh: $BINARIES_DIR/$IMG"
