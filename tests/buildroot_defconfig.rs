//! The Buildroot configurations resolve as written: Buildroot's kconfig silently drops a
//! symbol whose dependencies are not met (BR2_PACKAGE_KEEPLITE was once dropped that way, musl
//! without C++), so every assignment of the defconfig must survive into the resolved .config.
//!
//! Needs the Buildroot 2026.02.x tarball: BR_TARBALL, or ../shared/buildroot/ next to the
//! source tree. Only kconfig runs (a few seconds, no download).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Buildroot tree, unpacked once under cargo's per-target temporary directory (the tests
/// run in parallel: the first one unpacks, the others wait for it).
fn buildroot() -> PathBuf {
    static TREE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    TREE.get_or_init(unpack).clone()
}

fn unpack() -> PathBuf {
    let tarball = std::env::var_os("BR_TARBALL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let dir = repo().join("../shared/buildroot");
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: {e}; set BR_TARBALL to a buildroot-2026.02.x .tar.gz",
                        dir.display()
                    )
                })
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy();
                    name.starts_with("buildroot-2026.02.") && name.ends_with(".tar.gz")
                })
                .collect();
            found.sort();
            found
                .pop()
                .unwrap_or_else(|| panic!("no buildroot-2026.02.*.tar.gz in {}", dir.display()))
        });
    let name = tarball.file_name().unwrap().to_string_lossy();
    let tree = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name.trim_end_matches(".tar.gz"));
    if !tree.join("Makefile").exists() {
        let part = tree.with_extension("part");
        let _ = std::fs::remove_dir_all(&part);
        std::fs::create_dir_all(&part).unwrap();
        run(Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&part)
            .arg("--strip-components=1"));
        std::fs::rename(&part, &tree).unwrap();
    }
    tree
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Resolves `defconfig` (a file) with the given BR2_EXTERNAL trees; returns the .config text.
fn resolve(defconfig: &Path, externals: &[PathBuf], out: &str) -> String {
    let br = buildroot();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(out);
    let _ = std::fs::remove_dir_all(&out);
    let ext: Vec<String> = externals.iter().map(|p| p.display().to_string()).collect();
    run(Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&br)
        .arg(format!("O={}", out.display()))
        .arg(format!("BR2_EXTERNAL={}", ext.join(":")))
        .arg(format!("BR2_DEFCONFIG={}", defconfig.display()))
        .arg("defconfig"));
    std::fs::read_to_string(out.join(".config")).unwrap()
}

/// Every `SYM=value` of `defconfig` is in `config`, and every `# SYM is not set` is not set
/// there; a later assignment of a symbol overrides an earlier one, as in kconfig.
fn assert_resolved(defconfig: &str, config: &str, what: &str) {
    let mut want: Vec<(String, Option<String>)> = Vec::new();
    for line in defconfig.lines().map(str::trim) {
        let (sym, val) =
            if let Some((sym, val)) = line.split_once('=').filter(|_| line.starts_with("BR2_")) {
                (sym.to_string(), Some(val.to_string()))
            } else if let Some(sym) = line
                .strip_prefix("# ")
                .and_then(|l| l.strip_suffix(" is not set"))
            {
                (sym.to_string(), None)
            } else {
                continue;
            };
        want.retain(|(s, _)| *s != sym);
        want.push((sym, val));
    }
    assert!(want.len() > 10, "{what}: too few assignments parsed");
    let mut dropped = Vec::new();
    for (sym, val) in &want {
        let set = config.lines().find_map(|l| {
            l.strip_prefix(sym.as_str())
                .and_then(|r| r.strip_prefix('='))
        });
        match (val, set) {
            (Some(v), Some(s)) if v == s => {}
            (None, None) => {}
            (None, Some("n")) => {}
            // An empty string is how a configuration unsets a string symbol.
            (Some(v), None) if v == "\"\"" => {}
            (v, s) => dropped.push(format!("{sym}: written {v:?}, resolved {s:?}")),
        }
    }
    assert!(
        dropped.is_empty(),
        "{what}: kconfig did not keep:\n  {}",
        dropped.join("\n  ")
    );
}

fn has(config: &str, line: &str) -> bool {
    config.lines().any(|l| l == line)
}

#[test]
fn internet_defconfig_resolves_with_keeplite() {
    let path = repo().join("buildroot/configs/keeplite_pc_x86_64_defconfig");
    let defconfig = std::fs::read_to_string(&path).unwrap();
    let config = resolve(&path, &[repo().join("buildroot")], "br-defconfig");
    assert_resolved(&defconfig, &config, "keeplite_pc_x86_64_defconfig");

    // What the appliance is made of, whatever the defconfig says.
    for line in [
        "BR2_PACKAGE_KEEPLITE=y",
        "BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS=y",
        "BR2_PACKAGE_PROVIDES_HOST_RUSTC=\"host-rust-bin\"",
        "BR2_TOOLCHAIN_USES_GLIBC=y",
        "BR2_TARGET_ROOTFS_SQUASHFS=y",
        "BR2_PACKAGE_HOST_GENIMAGE=y",
        "BR2_INIT_BUSYBOX=y",
        "BR2_LINUX_KERNEL=y",
        "BR2_LINUX_KERNEL_NEEDS_HOST_LIBELF=y",
        "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES=\"$(BR2_EXTERNAL_KEEPLITE_PATH)/../board/pc-x86_64/linux.fragment\"",
        "# BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW is not set",
    ] {
        assert!(has(&config, line), "resolved .config lacks `{line}`");
    }
    // The read-only root never gets remounted, and syslinux comes from the host (post-image.sh).
    assert!(!has(&config, "BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW=y"));
    assert!(!has(&config, "BR2_TARGET_SYSLINUX=y"));

    // The board scripts run in the right places (passwd/shadow become links only after
    // makedevs; the post-image step makes the initramfs and the bundle) and exist, executable:
    // a renamed script would otherwise only fail at the end of a full build.
    let mut scripts = Vec::new();
    for line in config.lines() {
        let Some((sym, val)) = line.split_once('=') else {
            continue;
        };
        if !sym.starts_with("BR2_ROOTFS_POST_") || !sym.ends_with("_SCRIPT") {
            continue;
        }
        for script in val.trim_matches('"').split_whitespace() {
            let path = script.replace(
                "$(BR2_EXTERNAL_KEEPLITE_PATH)",
                &repo().join("buildroot").display().to_string(),
            );
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{sym}: {path}: {e}"))
                .permissions()
                .mode();
            assert!(mode & 0o111 != 0, "{sym}: {path} is not executable");
            scripts.push(format!("{sym}={script}"));
        }
    }
    for want in [
        "BR2_ROOTFS_POST_BUILD_SCRIPT=$(BR2_EXTERNAL_KEEPLITE_PATH)/../board/pc-x86_64/post-build.sh",
        "BR2_ROOTFS_POST_FAKEROOT_SCRIPT=$(BR2_EXTERNAL_KEEPLITE_PATH)/../board/pc-x86_64/post-fakeroot.sh",
        "BR2_ROOTFS_POST_IMAGE_SCRIPT=$(BR2_EXTERNAL_KEEPLITE_PATH)/post-image.sh",
    ] {
        assert!(scripts.iter().any(|s| s == want), "resolved .config lacks {want}");
    }

    // The kernel fragment carries what the image needs built in (buildroot/offline/check also
    // checks each of its lines against the built kernel's .config).
    let fragment = std::fs::read_to_string(repo().join("board/pc-x86_64/linux.fragment")).unwrap();
    for opt in [
        "CONFIG_IP_VS=y",
        "CONFIG_IP_VS_IPV6=y",
        "CONFIG_SQUASHFS=y",
        "CONFIG_SQUASHFS_XZ=y",
        "CONFIG_VIRTIO_BLK=y",
        "CONFIG_VIRTIO_NET=y",
        "CONFIG_DEVTMPFS_MOUNT=y",
        "CONFIG_I6300ESB_WDT=y",
        "CONFIG_MACVLAN=y",
    ] {
        assert!(
            has(&fragment, opt),
            "board/pc-x86_64/linux.fragment lacks `{opt}`"
        );
    }
}

#[test]
fn offline_defconfig_resolves_with_keeplite() {
    // buildroot/offline/check's configuration: the defconfig plus offline.config, with the
    // placeholders the script fills in (paths need not exist to resolve).
    let defconfig =
        std::fs::read_to_string(repo().join("buildroot/configs/keeplite_pc_x86_64_defconfig"))
            .unwrap();
    let offline = std::fs::read_to_string(repo().join("buildroot/offline/offline.config"))
        .unwrap()
        .replace("@TOOLCHAIN@", "/nonexistent/toolchain")
        .replace("@GCC@", "12")
        .replace("@HEADERS@", "6_1")
        .replace("@KERNEL_TARBALL@", "/nonexistent/linux-source-6.1.tar.xz")
        .replace("@LOCAL_MK@", "/nonexistent/local.mk")
        .replace("@DL_DIR@", "/nonexistent/dl")
        .replace("@JOBS@", "2");
    assert!(
        !offline
            .lines()
            .any(|l| !l.starts_with('#') && l.contains('@')),
        "offline.config has a placeholder the test does not fill"
    );
    let merged = format!("{defconfig}\n{offline}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keeplite_offline_defconfig");
    std::fs::write(&path, &merged).unwrap();
    let config = resolve(
        &path,
        &[
            repo().join("buildroot"),
            repo().join("buildroot/offline/external"),
        ],
        "br-offline-defconfig",
    );
    assert_resolved(&merged, &config, "defconfig + offline.config");
    assert!(has(&config, "BR2_PACKAGE_KEEPLITE=y"));
    assert!(has(
        &config,
        "BR2_PACKAGE_PROVIDES_HOST_RUSTC=\"host-rust-system\""
    ));
    // host-rust-bin must not be enabled next to host-rust-system (two providers).
    assert!(!has(&config, "BR2_PACKAGE_HOST_RUSTC=y"));
}
