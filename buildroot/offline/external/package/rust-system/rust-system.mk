################################################################################
#
# rust-system: host-rustc from the build machine's Rust toolchain (offline check only)
#
################################################################################

HOST_RUST_SYSTEM_PROVIDES = host-rustc
# The toolchain's own directory (`rustc --print sysroot`), set by buildroot/offline/check in
# local.mk; its binaries find their standard libraries relative to their real path.
RUST_SYSTEM_SYSROOT ?= $(error RUST_SYSTEM_SYSROOT is not set)

define HOST_RUST_SYSTEM_INSTALL_CMDS
	test -d $(RUST_SYSTEM_SYSROOT)/lib/rustlib/$(RUSTC_TARGET_NAME)/lib || \
		{ echo "rust-system: no standard library for $(RUSTC_TARGET_NAME)" >&2; exit 1; }
	mkdir -p $(HOST_DIR)/bin
	for t in cargo rustc rustdoc; do \
		ln -sf $(RUST_SYSTEM_SYSROOT)/bin/$$t $(HOST_DIR)/bin/$$t || exit 1; \
	done
endef

$(eval $(host-generic-package))
