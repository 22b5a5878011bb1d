#!/bin/sh
# Console login: users and the root password hash live on /config (rcS installs them at first
# boot; BusyBox passwd follows the symlinks), whatever the skeleton put in /etc.
# BR2_ROOTFS_POST_FAKEROOT_SCRIPT for Buildroot (its mkusers and makedevs need the regular
# files, so the links are made after them, in the image's copy of the target); post-build.sh
# runs it for ./build-image. Usage: post-fakeroot.sh TARGET_DIR
set -eu

TARGET_DIR=${1:?usage: post-fakeroot.sh TARGET_DIR}
ln -sf /config/passwd "$TARGET_DIR/etc/passwd"
ln -sf /config/shadow "$TARGET_DIR/etc/shadow"
