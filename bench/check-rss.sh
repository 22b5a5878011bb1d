#!/bin/sh
# Daemon memory with N real servers: keeplite's whole daemon vs keepalived 2.2.7 (parent and
# checker child), same configuration (one virtual_server, N real servers 127.1.x.y:80 with
# TCP_CHECK, delay_loop 1), side by side in a private netns (loopback only: nothing listens,
# so every check is refused at once and keeps retrying, the same for both).
# Usage (root): bench/check-rss.sh            env: N WARM RUNS, KL (a keeplite binary to
# measure instead of this tree's static release build, the appliance's binary: its text layout,
# src/steady-text.ld, is linked into that build only)
# keepalived's checker needs IPVS, which this kernel lacks: bench/check-ipvs-shim.c
# (LD_PRELOAD) acknowledges its IPVS netlink requests; keeplite runs its checks without IPVS.
set -eu
N=${N:-10000}; RUNS=${RUNS:-3}
# keepalived needs ~40 s to start 10,000 checkers; keeplite starts at once.
WARM=${WARM:-60}
cd "$(dirname "$0")/.."
if [ -z "${KL:-}" ]; then
	RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
		cargo build --release --locked -q --target x86_64-unknown-linux-gnu
	KL=$PWD/target/x86_64-unknown-linux-gnu/release/keeplite
fi
. bench/check-common.sh
bench_netns klrss
rs_conf "$N" >"$tmp/rs.conf"
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
run=1
while [ $run -le "$RUNS" ]; do
	ip netns exec "$ns" "$KL" -n -l -f "$tmp/rs.conf" --control "$tmp/kl.sock" >"$tmp/kl.log" 2>&1 &
	kl=$!
	pids="$pids $kl"
	ip netns exec "$ns" env LD_PRELOAD="$tmp/shim.so" keepalived -n -l -C -f "$tmp/rs.conf" \
		-p "$tmp/ka.pid" -c "$tmp/ka.chk" >"$tmp/ka.log" 2>&1 &
	pids="$pids $!"
	sleep "$WARM"
	echo "run $run: keeplite $(rss "$kl") kB; keepalived parent $(rss "$(cat "$tmp/ka.pid")") kB" \
		"+ checker $(rss "$(cat "$tmp/ka.chk")") kB"
	ka=$(cat "$tmp/ka.pid")
	kill "$kl" "$ka"
	wait "$kl" 2>/dev/null || true
	# keepalived takes a while to stop 10,000 checkers; the next run needs its pid files gone.
	while kill -0 "$ka" 2>/dev/null || [ -e "$tmp/ka.pid" ]; do sleep 0.5; done
	run=$((run + 1))
done
