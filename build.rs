//! Link options of the static release binary (the appliance's, `+crt-static`), kept here so every
//! builder gets them (README, build-image, benches): the 2 MiB budget is measured on it.
//! - `--icf=safe`: lld folds identical functions whose address is never taken.
//! - `src/steady-text.ld`: the event loop's code in one block ahead of the rest of `.text`, so
//!   the pages it keeps resident after `sys::trim_text` are few (see the script).
//! - `--no-eh-frame-hdr`: with `panic = "abort"` nothing unwinds; a panic still prints its message
//!   (a backtrace would need the index, and symbols, which `strip` removed anyway). Saves ~30 KB.
//!
//! Rust's default linker for x86_64-unknown-linux-gnu is lld, which takes both options; other
//! targets and non-static builds (Buildroot's) are left alone.
use std::env::var;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/steady-text.ld");
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|f| f.split(',').any(|feature| feature == "crt-static"));
    let release = var("PROFILE").as_deref() == Ok("release");
    let target = var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if static_crt && release && target {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=safe");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
        let dir = var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/src/steady-text.ld");
    }
}
