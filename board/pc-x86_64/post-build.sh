#!/bin/sh
# Finish the target tree (BR2_ROOTFS_POST_BUILD_SCRIPT for Buildroot; also run by ./build-image
# after the overlay is copied). Usage: post-build.sh TARGET_DIR
set -eu

TARGET_DIR=${1:-${TARGET_DIR:?}}
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BOARD_DIR/../.." && pwd)

# Mount points: the root is read-only, so every one must exist in the image.
for d in boot config dev proc sys run tmp var; do
	mkdir -p "$TARGET_DIR/$d"
done

# The example configuration of the source tree becomes the factory default that first boot
# copies to an empty /config; without it the overlay's own default stays.
if [ -f "$TOP/config/keepalived.conf" ]; then
	install -m 0644 "$TOP/config/keepalived.conf" "$TARGET_DIR/etc/keeplite/keepalived.conf.default"
fi

# Nothing may expect a writable /etc: resolv.conf and mtab point into tmpfs / procfs.
ln -sf /proc/self/mounts "$TARGET_DIR/etc/mtab"
ln -sf /run/resolv.conf "$TARGET_DIR/etc/resolv.conf"

# Console login (/etc/passwd, /etc/shadow -> /config): Buildroot runs post-fakeroot.sh itself,
# after its user and device tables (which want regular files there) are applied to the image.
[ -n "${BR2_CONFIG:-}" ] || "$BOARD_DIR/post-fakeroot.sh" "$TARGET_DIR"

# Upgrades (keeplite upgrade): the board name and version bundles are checked against, and the
# public key they must be signed with. The private key never enters the image.
VERSION=${KEEPLITE_RELEASE:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$TOP/Cargo.toml" | head -n 1)}
mkdir -p "$TARGET_DIR/etc/keeplite"
echo pc-x86_64 >"$TARGET_DIR/etc/keeplite/board"
echo "$VERSION" >"$TARGET_DIR/etc/keeplite/version"
install -m 0644 "${KEEPLITE_SIGNING_PUB:-$BOARD_DIR/keys/development-signing.pub}" \
	"$TARGET_DIR/etc/keeplite/upgrade.pub"
