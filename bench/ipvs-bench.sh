#!/bin/sh
# Programs 1,000 IPVS services x 10 destinations into an empty table inside a qemu VM
# (Debian's kernel, TCG), with keeplite's batched netlink client and with `ipvsadm -R`,
# 5 runs each, and prints the medians. Needs root, qemu-system-x86, busybox-static, cpio,
# kmod, ipvsadm (see tests/kvm/mod.rs).
set -eu
cd "$(dirname "$0")/.."
cargo test --release --test ipvs_kvm bench_ipvs_program_in_vm -- --ignored --nocapture 2>&1 |
    grep -m1 'KL-BENCH' | sed 's/.*KL-BENCH/KL-BENCH/'
