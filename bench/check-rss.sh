#!/bin/sh
# Daemon memory with N real servers: keeplite's whole daemon vs keepalived 2.2.7 (parent and
# checker child), same configuration (one virtual_server, N real servers 127.1.x.y:80 with
# TCP_CHECK, delay_loop 1), side by side in a private netns (loopback only: nothing listens,
# so every check is refused at once and keeps retrying, the same for both).
# Usage (root): bench/check-rss.sh            env: N WARM RUNS
# keepalived's checker needs IPVS, which this kernel lacks: bench/check-ipvs-shim.c
# (LD_PRELOAD) acknowledges its IPVS netlink requests; keeplite runs its checks without IPVS.
set -eu
N=${N:-10000}; RUNS=${RUNS:-3}
# keepalived needs ~40 s to start 10,000 checkers; keeplite starts at once.
WARM=${WARM:-60}
cd "$(dirname "$0")/.."
cargo build --release --locked -q
KL=$PWD/target/release/keeplite
tmp=$(mktemp -d /tmp/klrss.XXXXXX)
ns=klrss$$
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	for f in ka.pid ka.chk; do
		[ -f "$tmp/$f" ] && kill -9 "$(cat "$tmp/$f")" 2>/dev/null || true
	done
	sleep 0.5
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
gcc -shared -fPIC -O2 -o "$tmp/shim.so" bench/check-ipvs-shim.c -ldl
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
{
	echo 'global_defs { router_id klbench }'
	echo 'virtual_server 10.0.0.1 80 {'
	echo '  delay_loop 1'
	echo '  lb_algo rr'
	echo '  lb_kind NAT'
	echo '  protocol TCP'
	i=0
	while [ $i -lt "$N" ]; do
		echo "  real_server 127.$((1 + i / 62500)).$((i / 250 % 250)).$((i % 250 + 1)) 80 { TCP_CHECK { connect_timeout 3 } }"
		i=$((i + 1))
	done
	echo '}'
} >"$tmp/rs.conf"
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
