################################################################################
#
# keeplite
#
################################################################################

# Built from the source tree this BR2_EXTERNAL lives in.
KEEPLITE_VERSION = local
KEEPLITE_SITE = $(BR2_EXTERNAL_KEEPLITE_PATH)/..
KEEPLITE_SITE_METHOD = local
KEEPLITE_LICENSE = GPL-2.0+
KEEPLITE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude target --exclude output --exclude fuzz --exclude buildroot

# pkg-cargo sets CARGO_PROFILE_RELEASE_* from the global optimisation settings;
# <pkg>_CARGO_ENV comes after it on the command line, so these size settings
# (the same as Cargo.toml's [profile.release]) win.
KEEPLITE_CARGO_ENV = \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
	CARGO_PROFILE_RELEASE_LTO=true \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
	CARGO_PROFILE_RELEASE_PANIC=abort \
	CARGO_PROFILE_RELEASE_DEBUG=false \
	CARGO_PROFILE_RELEASE_STRIP=true

# A local site is rsynced, not downloaded, so pkg-cargo's download-time vendoring
# does not run. Vendor before configure: only then is host-rustc (cargo) certainly
# installed, since a package's dependencies are built before its configure step
# (a post-rsync hook runs before them with per-package directories). Needs access
# to crates.io, like any download; the crates are cached in BR_CARGO_HOME (DL_DIR).
define KEEPLITE_CARGO_VENDOR
	cd $(@D) && mkdir -p .cargo && \
		$(HOST_MAKE_ENV) $(PKG_COMMON_CARGO_ENV) \
		cargo vendor --locked --versioned-dirs VENDOR > .cargo/config.toml
endef
KEEPLITE_PRE_CONFIGURE_HOOKS += KEEPLITE_CARGO_VENDOR

# /usr/sbin/keeplite, as in board/pc-x86_64/build-image (cargo install would pick
# /usr/bin and build a second time).
define KEEPLITE_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 \
		$(@D)/target/$(RUSTC_TARGET_NAME)/release/keeplite \
		$(TARGET_DIR)/usr/sbin/keeplite
endef

$(eval $(cargo-package))
