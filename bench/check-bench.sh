#!/bin/sh
# Checker CPU at ~10,000 TCP checks/s: keeplite's CheckIo vs keepalived 2.2.7's checker
# process, same 10,000 real servers (127.1.x.y:80, delay_loop 1 s) in a private netns.
# Also the whole daemon (`keeplite -n -l`, this tree's release build or KL=binary) with the same
# configuration as keepalived: it runs its checks without IPVS.
# Usage (root): bench/check-bench.sh            env: N WARM KA_WARM KA_MAX WINDOW RUNS, KL BIN (binaries to use instead of building)
# KL0 BIN0: a second (before) build of both, measured in the same rounds as KL and BIN.
# keepalived's checker needs IPVS, which this kernel lacks: bench/check-ipvs-shim.c
# (LD_PRELOAD) acknowledges its IPVS netlink requests without a kernel.
set -eu
N=${N:-10000}; WINDOW=${WINDOW:-20}; RUNS=${RUNS:-3}
# keepalived needs ~40 s to start 10,000 checkers (minutes on a loaded host), then settles;
# keeplite starts at once. keepalived is measured once its rate over 5 s reaches 80 % of the
# rate keeplite's daemon reached in the same round (at most KA_MAX s after its start).
WARM=${WARM:-10}; KA_WARM=${KA_WARM:-40}; KA_MAX=${KA_MAX:-300}
cd "$(dirname "$0")/.."
if [ -z "${KL:-}" ]; then
	cargo build --release --locked -q
	KL=$PWD/target/release/keeplite
fi
BIN=${BIN:-$(cargo bench --bench check_tcp --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p')}
. bench/check-common.sh
bench_netns klchk
ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.core.somaxconn=65535
ip netns exec "$ns" "$BIN" listen 80 >"$tmp/accepts" &
pids="$pids $!"

rs_conf "$N" >"$tmp/ka.conf"

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
accepts() { tail -n 1 "$tmp/accepts"; }
# measure PID WARM: user and system CPU seconds over WINDOW, accepted checks/s, RSS kB, open fds
measure() {
	sleep "$2"
	set -- "$1" $(ticks "$1") "$(accepts)"
	sleep "$WINDOW"
	set -- "$@" $(ticks "$1") "$(accepts)"
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status")
	fds=$(ls "/proc/$1/fd" | wc -l)
	printf "user %.2f sys %.2f total %.2f cpu_s, %d checks/s, %.1f us/check, rss %d kB, fds %d, load %s\n" \
		"$(echo "($5 - $2) / $hz" | bc -l)" "$(echo "($6 - $3) / $hz" | bc -l)" \
		"$(echo "($5 + $6 - $2 - $3) / $hz" | bc -l)" $((($7 - $4) / WINDOW)) \
		"$(echo "($5 + $6 - $2 - $3) / $hz / ($7 - $4) * 1000000" | bc -l)" "$rss" "$fds" \
		"$(cut -d' ' -f1 /proc/loadavg)"
}
# ka_settle SECONDS_SINCE_START: waits until keepalived's checks reach 80 % of $rate.
ka_settle() {
	t=$1
	while [ "$t" -lt "$KA_MAX" ]; do
		a=$(accepts); sleep 5; t=$((t + 5))
		[ $(($(accepts) - a)) -ge $((rate * 4)) ] && return
	done
}

# contest LABEL CHECK_TCP KEEPLITE ROUND: the CheckIo loop, then the daemon; sets rate.
contest() {
	ip netns exec "$ns" "$2" run "$N" 2>"$tmp/kl.err" &
	p=$!
	echo "keeplite$1   run $4: $(measure $p "$WARM")"
	kill $p; wait $p 2>/dev/null || true
	grep -c down "$tmp/kl.err" | xargs echo "keeplite$1   down events:"

	ip netns exec "$ns" "$3" -n -l -f "$tmp/ka.conf" --control "$tmp/kl.sock" >"$tmp/kld.log" 2>&1 &
	p=$!
	m=$(measure $p "$WARM")
	echo "keeplite$1 daemon run $4: $m"
	rate=$(echo "$m" | sed 's|.* \([0-9]*\) checks/s.*|\1|')
	kill $p; wait $p 2>/dev/null || true
	grep -c "real server .* down" "$tmp/kld.log" | xargs echo "keeplite$1 daemon down events:"
}

for r in $(seq "$RUNS"); do
	[ -n "${KL0:-}" ] && contest " before" "$BIN0" "$KL0" "$r"
	contest "" "$BIN" "$KL" "$r"

	rm -f "$tmp/ka.pid" "$tmp/ka.chk"
	LD_PRELOAD="$tmp/shim.so" ip netns exec "$ns" keepalived -n -l -C -f "$tmp/ka.conf" \
		-p "$tmp/ka.pid" -c "$tmp/ka.chk" >"$tmp/ka.log" 2>&1 &
	p=$!
	while [ ! -s "$tmp/ka.chk" ]; do sleep 0.1; done
	sleep "$KA_WARM"
	ka_settle "$KA_WARM"
	echo "keepalived run $r: $(measure "$(cat "$tmp/ka.chk")" 0)"
	kill $p; wait $p 2>/dev/null || true
	grep -c "TCP_CHECK.*failed" "$tmp/ka.log" | xargs echo "keepalived down events:"
done
