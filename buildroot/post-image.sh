#!/bin/sh
# Buildroot's post-image step (BR2_ROOTFS_POST_IMAGE_SCRIPT): the initramfs that counts the
# boots of a slot, made from the target tree, then board/pc-x86_64/post-image.sh, which makes
# the A/B disk image and the signed upgrade bundle exactly as for ./build-image.
# Buildroot exports TARGET_DIR and BUILD_DIR; KEEPLITE_RELEASE, KEEPLITE_SIGNING_KEY and
# KEEPLITE_HOST_BIN pass through (see board/pc-x86_64/post-image.sh).
set -eu

BINARIES_DIR=${1:-${BINARIES_DIR:?}}
BOARD_DIR=$(cd "$(dirname "$0")/../board/pc-x86_64" && pwd)
: "${TARGET_DIR:?run by Buildroot}" "${BUILD_DIR:?run by Buildroot}"
BIN=/usr/sbin/keeplite

needed() { # ELF file -> its DT_NEEDED libraries
	readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'
}
interp=$(readelf -l "$TARGET_DIR$BIN" | sed -n 's/.*interpreter: \(.*\)\]$/\1/p')
[ -n "$interp" ] || { echo "buildroot/post-image.sh: $BIN has no ELF interpreter" >&2; exit 1; }

# --- initramfs: BusyBox, keeplite (`keeplite slot boot`), their libraries, init ----------------
# The kernel has the storage, squashfs and FAT drivers built in: no modules to load.
R=$BUILD_DIR/keeplite-initramfs
rm -rf "$R"
mkdir -p "$R/dev" "$R/proc" "$R/sys" "$R/newroot" "$R/etc" "$R/lib"
: >"$R/etc/modules-boot"
install -m 0755 "$BOARD_DIR/initramfs/init" "$R/init"
copy() { # path in the target tree, copied to the same path (a symlink stays one)
	mkdir -p "$R$(dirname "$1")"
	cp -P "$TARGET_DIR$1" "$R$1"
}
copy /bin/busybox
copy "$BIN"
(cd "$TARGET_DIR" && find bin sbin usr/bin usr/sbin -type l -lname '*busybox') | while read -r l; do
	copy "/$l"
done
# The libraries, where the target has them, with the target's directory links (lib64 -> lib,
# lib/<multiarch> -> ../lib) so the dynamic loader searches as it does on the root.
for l in $(cd "$TARGET_DIR" && find lib* usr/lib* -maxdepth 1 -type l -xtype d); do
	copy "/$l"
done
copy "$interp"
libs=$( {
	needed "$TARGET_DIR/bin/busybox"
	needed "$TARGET_DIR$BIN"
} | sort -u)
while [ -n "$libs" ]; do
	more=
	for lib in $libs; do
		[ ! -e "$R/lib/$lib" ] && [ ! -e "$R/usr/lib/$lib" ] || continue
		if [ -e "$TARGET_DIR/lib/$lib" ]; then dir=/lib; else dir=/usr/lib; fi
		[ -e "$TARGET_DIR$dir/$lib" ] || { echo "buildroot/post-image.sh: no $lib in $TARGET_DIR" >&2; exit 1; }
		mkdir -p "$R$dir"
		cp -L "$TARGET_DIR$dir/$lib" "$R$dir/$lib"
		more="$more $(needed "$R$dir/$lib")"
	done
	libs=$more
done
(cd "$R" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -9n) >"$BINARIES_DIR/initrd.img"
echo "buildroot/post-image.sh: $BINARIES_DIR/initrd.img ($(stat -c %s "$BINARIES_DIR/initrd.img") B)"

# --- the keeplite that signs the bundle ---------------------------------------------------------
# The target's own binary, run through the target's dynamic loader and libraries: no second
# build, and independent of the host's glibc. Needs an x86_64 build host; elsewhere, set
# KEEPLITE_HOST_BIN to a keeplite built for the host.
if [ -z "${KEEPLITE_HOST_BIN:-}" ] && [ "$(uname -m)" = x86_64 ]; then
	KEEPLITE_HOST_BIN=$BUILD_DIR/keeplite-host
	printf '#!/bin/sh\nexec %s --library-path %s %s "$@"\n' "$TARGET_DIR$interp" \
		"$TARGET_DIR/lib:$TARGET_DIR/usr/lib" "$TARGET_DIR$BIN" >"$KEEPLITE_HOST_BIN"
	chmod 0755 "$KEEPLITE_HOST_BIN"
fi
export KEEPLITE_HOST_BIN
exec "$BOARD_DIR/post-image.sh" "$BINARIES_DIR"
