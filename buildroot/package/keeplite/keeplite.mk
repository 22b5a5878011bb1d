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
# (the same as Cargo.toml's [profile.release]) win for build and install.
KEEPLITE_CARGO_ENV = \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
	CARGO_PROFILE_RELEASE_LTO=true \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
	CARGO_PROFILE_RELEASE_PANIC=abort \
	CARGO_PROFILE_RELEASE_DEBUG=false \
	CARGO_PROFILE_RELEASE_STRIP=true

# A local site is rsynced, not downloaded, so the download-time vendoring of
# pkg-cargo does not run: vendor the crates after the rsync instead (this step
# needs network access, like any download).
define KEEPLITE_CARGO_VENDOR
	cd $(@D) && mkdir -p .cargo && \
		$(HOST_MAKE_ENV) $(PKG_COMMON_CARGO_ENV) \
		cargo vendor --locked --versioned-dirs VENDOR > .cargo/config.toml
endef
KEEPLITE_POST_RSYNC_HOOKS += KEEPLITE_CARGO_VENDOR

$(eval $(cargo-package))
